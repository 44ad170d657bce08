import { mongo } from 'mongoose';
import { chunkCount, PENDING_WRITES } from '../media/gridfs-bucket.js';

const { deserialize, EJSON, ObjectId } = mongo.BSON;

const CHUNKS = '.chunks';
const FILES = '.files';

/**
 * Keeps out of a dump every GridFS file record of an upload still under way: one whose chunks the dump does not all
 * hold, or one without its `metadata.sha256`. A dump is not a snapshot:
 * `<bucket>.chunks` is read before `<bucket>.files`, and an upload that finishes in between (the driver writes the
 * file's record after its last chunk) has a record in the dump and none or only some of its chunks. Restored, such a
 * record is a file whose download fails after its headers, or with a 500. Left out, the upload is simply not in the
 * backup, like one that finished after it.
 *
 * The other order of the two reads would not help: a delete removes the record first, then the chunks, so a file
 * deleted between them would be a record without chunks instead. In this order a delete is harmless (its record is
 * gone before its chunks, so before the records are read), and the chunks an omitted record leaves behind are never
 * served (downloads start from the record).
 *
 * The hash is written once the upload is accepted (gridfs-bucket.ts), after its last chunk and its record, and nothing
 * serves, deletes or cleans up a file without it but through its pending-write record. A dump reads
 * `media_pending_writes` after `media.files`: an upload accepted in between was in the dump without its hash and
 * without its pending record, and restored, it was a file nobody could read or delete that held part of its owner's
 * quota for good (until 2026-12-05). It reads them after every bucket's records, `media_variants` included (dumpOrder).
 *
 * The other way round, an upload whose hash is written before `media.files` is read and whose pending record is
 * deleted only after `media_pending_writes` is: restored with both, the media cleanup took it for abandoned and deleted
 * an upload its member had been told was stored (until 2026-12-05). A pending record is left out when its file is in
 * the dump with its hash: such a file is restored as stored. The upload may in fact have been refused at its last
 * check (its request past its deadline) and then deleted; restored, it is a file of its owner's that nobody asked for,
 * as is one whose deletion came after `media.files` was read, which no dump that is not a snapshot avoids.
 *
 * Memory: one entry per file that has chunks, while its bucket is dumped, and per file dumped with its hash until the
 * pending writes are (about 60 bytes each), not the bytes.
 */
export class GridFsCompleteness {
  /** Per bucket being dumped: chunks dumped so far per file id (see idKey). */
  private readonly chunksDumped = new Map<string, Map<string, number>>();
  /** Per bucket whose records were dumped before the pending writes: the files dumped with their hash. */
  private readonly stored = new Map<string, Set<string>>();
  private readonly buckets: Set<string>;
  private readonly collections: ReadonlySet<string>;

  /** `collections`: every collection the dump holds; a bucket is a `.files` and `.chunks` pair among them. */
  constructor(collections: readonly string[]) {
    const names = new Set(collections);
    this.collections = names;
    this.buckets = new Set(
      collections
        .filter((name) => name.endsWith(FILES))
        .map((name) => name.slice(0, -FILES.length))
        .filter((bucket) => names.has(bucket + CHUNKS)),
    );
  }

  /**
   * The bucket of `collection` when it is a `.files` collection whose `.chunks` was not among the collections: created
   * since they were listed (a bucket's first upload makes it), or not a GridFS collection at all: the caller asks.
   */
  unlistedChunks(collection: string): string | undefined {
    if (!collection.endsWith(FILES)) return undefined;
    const bucket = collection.slice(0, -FILES.length);
    return this.collections.has(bucket + CHUNKS) ? undefined : bucket;
  }

  /**
   * `bucket`'s chunks collection exists but is not in the dump: none of its files' chunks are, so only its empty files
   * are kept. Before, such a bucket was not taken for one, and the record of a first upload that finished after the
   * collections were listed was dumped without its chunks.
   */
  chunksNotDumped(bucket: string): void {
    this.buckets.add(bucket);
    this.chunksDumped.set(bucket, new Map());
  }

  /**
   * What decides whether a document of `collection` goes into the dump, for a GridFS collection: a chunk always
   * (and is counted), a file record only when all its chunks were counted; for the pending writes, a record unless its
   * file was dumped with its hash. Undefined for other collections, whose documents are written without being decoded.
   */
  filter(collection: string): ((document: Buffer) => boolean) | undefined {
    if (collection === PENDING_WRITES) {
      const stored = new Map(this.stored);
      this.stored.clear();
      return (document) => {
        const pending = deserialize(document) as { _id: unknown; bucket?: unknown };
        return !stored.get(String(pending.bucket))?.has(idKey(pending._id));
      };
    }
    if (collection.endsWith(CHUNKS) && this.buckets.has(collection.slice(0, -CHUNKS.length))) {
      const counts = new Map<string, number>();
      this.chunksDumped.set(collection.slice(0, -CHUNKS.length), counts);
      return (document) => {
        const { files_id: fileId } = deserialize(document) as { files_id: unknown };
        const key = idKey(fileId);
        counts.set(key, (counts.get(key) ?? 0) + 1);
        return true;
      };
    }
    if (collection.endsWith(FILES) && this.buckets.has(collection.slice(0, -FILES.length))) {
      const bucket = collection.slice(0, -FILES.length);
      const counts = this.chunksDumped.get(bucket);
      // Names sorted put each bucket's chunks first ("chunks" < "files"); the counts go with this filter.
      if (!counts) throw new Error(`${bucket}${FILES} is dumped before ${bucket}${CHUNKS}`);
      this.chunksDumped.delete(bucket);
      // The pending writes are dumped after every bucket (dumpOrder), so this bucket's records come before them.
      const stored = new Set<string>();
      this.stored.set(bucket, stored);
      return (document) => {
        const file = deserialize(document) as GridFsFileRecord;
        const key = idKey(file._id);
        const dumped = counts.get(key) ?? 0;
        counts.delete(key);
        if (!file.metadata?.sha256) return false;
        const expected = chunkCount(file.length, file.chunkSize);
        // A record that does not say how long it is is kept as it is: a backup does not judge what it cannot read.
        const kept = expected === undefined || dumped === expected;
        if (kept) stored.add(key);
        return kept;
      };
    }
    return undefined;
  }
}

/**
 * The order a dump reads `collections` in: sorted (each bucket's chunks before its records), with the pending writes
 * last, after every bucket's records. Sorted alone, `media_pending_writes` fell between `media.*` and `media_variants.*`:
 * a variant being written when the pending writes were read, and finished before its bucket was, was dumped whole and
 * with its pending record, and after a restore the media cleanup deleted it as abandoned; its original, marked
 * processed, never got it again.
 */
export function dumpOrder(collections: readonly string[]): string[] {
  const sorted = [...collections].sort();
  return [...sorted.filter((name) => name !== PENDING_WRITES), ...sorted.filter((name) => name === PENDING_WRITES)];
}

interface GridFsFileRecord {
  _id: unknown;
  length?: unknown;
  chunkSize?: unknown;
  metadata?: { sha256?: unknown } | null;
}

/**
 * An ObjectId's 12 bytes as a 12-character string: a million entries take 60 MB of heap, against 250 MB keyed by
 * toHexString(), whose strings hold on to more than their 24 characters. GridFS allows ids of any type; such an id is
 * keyed by its Extended JSON, longer than 12 characters, so the two kinds never meet.
 */
function idKey(id: unknown): string {
  if (!(id instanceof ObjectId)) return EJSON.stringify({ id }, { relaxed: false });
  const bytes = id.id;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
