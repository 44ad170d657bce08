import { NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { mongo, type Types } from 'mongoose';
import { Readable } from 'node:stream';
import { hashingStream } from '../common/streams/hashing-stream.js';
import { TimeoutError, withTimeout } from '../common/with-timeout.js';
import { isDuplicateKeyError, isPoolSaturated } from '../database/mongo-errors.js';
import { unguessableObjectId } from '../database/object-id.js';
import { pipeline } from 'node:stream/promises';

/** What every stored file carries; `sha256` is set once all bytes are in, so a file without it is incomplete. */
export interface StoredFile {
  /** The bucket it lives in. */
  bucket: string;
  id: Types.ObjectId;
  length: number;
  chunkSize: number;
  uploadDate: Date;
  contentType: string;
  sha256: string;
}

/** A stored file's strong ETag: the SHA-256 of its bytes, which never change. */
export function entityTagOf(file: StoredFile): string {
  return `"${file.sha256}"`;
}

export type FileDocument = mongo.GridFSFile;

/**
 * A write in progress: an upload until its last byte and SHA-256 are in, a delete until file and
 * chunks are gone. One that stays here past the cleanup age was cut short (a crash, a lost
 * connection), and the cleanup job finishes deleting it: this is how chunks without a file are found
 * without scanning the chunks.
 */
interface PendingWrite {
  _id: Types.ObjectId;
  bucket: string;
  since: Date;
}
export const PENDING_WRITES = 'media_pending_writes';

interface ChunkDocument {
  files_id: Types.ObjectId;
  n: number;
  data: mongo.Binary;
}

/**
 * A download found none of the file it looked up: deleted since (a cached lookup can outlive the file for as long as
 * its invalidation is delayed). Answered like an unknown id.
 */
export class FileGoneError extends NotFoundException {}

/**
 * A file's record is there but a chunk before any byte went out is not: its record's length or chunk size disagrees
 * with its chunks (edited by hand, chunks removed). Nothing a member can fix or a retry can change, so a 404 saying so,
 * not a 500.
 */
export class FileIncompleteError extends NotFoundException {}

/**
 * The same after bytes went out: the download is cut there. An error of its own so that readers of the whole file (the
 * variants job) tell it from a failure a retry can mend.
 */
export class FileCutShortError extends Error {}

/**
 * A chunk did not come while the database answered nothing: it hangs. Before the first byte this is the download's
 * answer, a 503 problem like a request past its deadline; after it, the download is cut.
 */
export class ChunkReadTimeoutError extends ServiceUnavailableException {}

/** How long a download waits for a chunk; see `waitForChunk`. */
export interface ChunkWait {
  timeoutMs: number;
  /** Whether the database answered any command in the last `ms`: then it is busy, not hung. */
  databaseAnsweredWithin(ms: number): boolean;
}

/**
 * The chunk `next` brings, waited for in rounds of `timeoutMs`; it gives up after a round in which the database
 * answered nothing. A fixed timeout cannot tell a hung database from a busy one: with 100 downloads of 20 MiB started
 * at once on FerretDB, half the first chunks came after 10 s, and a 10 s timeout refused 92 of the 100.
 */
export async function waitForChunk<T>(next: Promise<T>, wait: ChunkWait): Promise<T> {
  for (;;) {
    try {
      return await withTimeout(next, wait.timeoutMs);
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      if (!wait.databaseAnsweredWithin(wait.timeoutMs)) {
        throw new ChunkReadTimeoutError(
          `The database answered nothing for ${wait.timeoutMs} ms while the file was read; retry in a few seconds`,
        );
      }
    }
  }
}

/**
 * Media reads its own writes whatever the Db it is given prefers (the app's connection reads the primary anyway,
 * mongoose-options.ts; this keeps the bucket right on its own): a secondary behind the primary would not yet hold a
 * file just uploaded, so the quota check after an upload would miss the uploads beside it (decision 0022), and the
 * file's first download, or attaching it to a profile, would find nothing. Downloads are cached in front (the
 * `media-file` records here, a CDN for the bytes), which keeps this load on the primary small.
 */
const PRIMARY = mongo.ReadPreference.primary;

/** One 255 KiB chunk (the default size) per round trip: of 1, 2 and 4, one held the least memory (docs/performance.md). */
const CHUNKS_PER_BATCH = 1;

/**
 * One GridFS bucket, used the same way on MongoDB and FerretDB: streaming upload with a SHA-256
 * computed on the way in, ranged download, delete of file and chunks.
 */
export class GridFsBucket {
  private readonly bucket: mongo.GridFSBucket;
  private readonly pending: mongo.Collection<PendingWrite>;

  constructor(
    private readonly db: mongo.Db,
    readonly name: string,
  ) {
    this.bucket = new mongo.GridFSBucket(db, { bucketName: name, readPreference: PRIMARY });
    this.pending = db.collection<PendingWrite>(PENDING_WRITES, { readPreference: PRIMARY });
  }

  /**
   * Streams `source` in under a server-made `filename`. Resolves with the file id and SHA-256, or with null after
   * deleting what was written if `keep()` says no once the bytes are in (the file's document written) or once their
   * hash is. A failed upload, or a `keep()` that throws, leaves nothing behind either (the cleanup job catches what a
   * crash mid-upload leaves). With `settle: false` the write stays pending until the caller's `settle(id)`: a caller
   * with work of its own left before the file may stay leaves a file that work failed to the cleanup job.
   */
  async upload(
    source: AsyncIterable<Buffer> | Buffer,
    filename: string,
    metadata: Record<string, unknown>,
    keep: (id: Types.ObjectId) => boolean | Promise<boolean> = () => true,
    { settle = true } = {},
  ): Promise<{ id: Types.ObjectId; sha256: string } | null> {
    // Anyone holding a file's id may download it.
    const id = unguessableObjectId();
    await this.pending.insertOne({ _id: id, bucket: this.name, since: new Date() });
    const upload = this.bucket.openUploadStreamWithId(id, filename, { metadata });
    const hashing = hashingStream();
    // A source that fails (a body cut off) ends the upload instead of destroying it: destroyed, the driver's stream
    // could still finish inserting the chunk it had in flight after the delete below, leaving an orphan chunk.
    let sourceFailure: { error: unknown } | undefined;
    async function* guarded(): AsyncGenerator<Buffer> {
      try {
        yield* Buffer.isBuffer(source) ? [source] : source;
      } catch (error) {
        sourceFailure = { error };
      }
    }
    try {
      await pipeline(Readable.from(guarded()), hashing.stream, upload);
      if (sourceFailure) throw sourceFailure.error;
      if (await keep(id)) {
        const sha256 = hashing.sha256();
        await this.files().updateOne({ _id: id }, { $set: { 'metadata.sha256': sha256 } });
        // Asked again: the caller may have given up (a request past its deadline) while the hash was written.
        if (await keep(id)) {
          if (settle) await this.settle(id);
          return { id, sha256 };
        }
      }
      await this.delete(id);
      return null;
    } catch (error) {
      // If this fails too, the pending record stays and the cleanup job deletes the rest.
      await this.delete(id).catch(() => undefined);
      throw error;
    }
  }

  /**
   * The file's bytes (`range.end` inclusive), read a few chunks per round trip. Not the driver's
   * openDownloadStream: its cursor takes the server's default first batch, which MongoDB fills up to
   * 16 MiB, so each concurrent download of a large file would hold that much (decision 0017). This
   * reader holds CHUNKS_PER_BATCH chunks at a time and fetches more only as the client reads.
   *
   * A chunk that does not come while the database answers nothing else either fails the read (`waitForChunk`).
   * Without this bound, a download whose file record came from the cache waited for the driver's socket timeout (45 s)
   * while MongoDB hung: its request deadline stops once the stream is handed to Fastify, before the first chunk is
   * asked for.
   */
  open(
    file: Pick<StoredFile, 'id' | 'length' | 'chunkSize'>,
    wait: ChunkWait,
    range?: { start: number; end: number },
  ): Readable {
    const { start, end } = range ?? { start: 0, end: file.length - 1 };
    if (end < start) return Readable.from([]);
    const first = Math.floor(start / file.chunkSize);
    const last = Math.floor(end / file.chunkSize);
    const chunksFrom = (n: number) =>
      this.chunks()
        .find({ files_id: file.id, n: { $gte: n, $lte: last } })
        .sort({ n: 1 })
        .batchSize(CHUNKS_PER_BATCH);
    let cursor = chunksFrom(first);
    const files = this.files();
    async function* bytes(): AsyncGenerator<Buffer> {
      let expected = first;
      let wrongSize: number | undefined;
      const nextChunk = async () => {
        for (;;) {
          try {
            return await waitForChunk(cursor.next(), wait);
          } catch (error) {
            // Every pooled connection stayed busy for MONGODB_WAIT_QUEUE_TIMEOUT_MS while the database answered others:
            // a queue, which a download waits out as waitForChunk does. The read was never sent; a new cursor asks
            // again from the chunk still missing.
            if (!isPoolSaturated(error) || !wait.databaseAnsweredWithin(wait.timeoutMs)) throw error;
            void cursor.close().catch(() => undefined);
            cursor = chunksFrom(expected);
          }
        }
      };
      try {
        // Nothing is asked for after the last chunk: with one chunk per batch that would be one more round trip.
        const next = () => (expected <= last ? nextChunk() : null);
        for (let chunk = await next(); chunk?.n === expected; chunk = await next()) {
          const view = chunk.data.buffer; // the chunk's bytes, shared rather than copied
          const data = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
          const from = expected === first ? start - first * file.chunkSize : 0;
          const to = expected === last ? end - last * file.chunkSize + 1 : file.chunkSize;
          // Content-Length is out already and the offsets assume full chunks. A longer chunk (a hand edit) sent whole
          // put bytes past the body, which a keep-alive client read as the next response; a shorter one ended the body
          // early, and its client waited for the rest until the idle connection closed.
          if (expected < last ? data.length !== file.chunkSize : data.length < to) {
            wrongSize = data.length;
            break;
          }
          yield data.subarray(from, to);
          expected += 1;
        }
      } finally {
        // Also when the client went away or a chunk timed out. Not awaited: on a hung server killCursors hangs too.
        void cursor.close().catch(() => undefined);
      }
      if (expected === last + 1) return;
      // Before any byte went out, a file whose document is gone too was deleted, not damaged.
      const found = () => files.findOne({ _id: file.id }, { projection: { _id: 1 } });
      if (expected === first && wrongSize === undefined && !(await found())) throw new FileGoneError('Media not found');
      const missing =
        wrongSize === undefined
          ? `GridFS file ${String(file.id)} is missing chunk ${expected}`
          : `GridFS file ${String(file.id)} has ${wrongSize} bytes in chunk ${expected}, not what its record says`;
      if (expected === first)
        throw new FileIncompleteError(`Media not found: its stored bytes are incomplete (${missing})`);
      throw new FileCutShortError(missing);
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  /**
   * Whether the chunks hold every byte the record promises: as many chunks as its length needs, the last of them long
   * enough. Asked before a download's status goes out, which once sent cannot turn into a 404: a record whose length
   * outruns its chunks (a restore cut short, a hand edit) was answered 200 and its connection cut where they ended. One
   * indexed count and one chunk read, not every chunk; a chunk of the wrong size further in is caught only while the
   * bytes are sent (open).
   */
  async holdsAllBytes(file: Pick<StoredFile, 'id' | 'length' | 'chunkSize'>): Promise<boolean> {
    const count = chunkCount(file.length, file.chunkSize);
    if (!count) return true;
    const [stored, last] = await Promise.all([
      this.chunks().countDocuments({ files_id: file.id, n: { $lt: count } }),
      this.chunks().findOne({ files_id: file.id, n: count - 1 }),
    ]);
    const lastBytes = file.length - (count - 1) * file.chunkSize;
    return stored === count && last?.data instanceof mongo.Binary && last.data.length() >= lastBytes;
  }

  /** Ends the pending write of an upload made with `settle: false`: the file is kept from now on. */
  async settle(id: Types.ObjectId): Promise<void> {
    await this.pending.deleteOne({ _id: id });
  }

  /** Removes the file and its chunks; a file already gone is not an error (its chunks still go). */
  async delete(id: Types.ObjectId): Promise<void> {
    try {
      await this.pending.updateOne({ _id: id }, { $set: { bucket: this.name, since: new Date() } }, { upsert: true });
    } catch (error) {
      // A delete of the same file running beside this one inserted the record first. MongoDB retries such an upsert
      // itself; FerretDB answers E11000. Either way the record is there, which is all this needs.
      if (!isDuplicateKeyError(error)) throw error;
    }
    try {
      await this.bucket.delete(id);
    } catch (error) {
      // The driver deletes the chunks before saying the file document was missing.
      if (!(error instanceof mongo.MongoRuntimeError && /File not found/i.test(error.message))) throw error;
    }
    await this.pending.deleteOne({ _id: id });
  }

  /**
   * Files begun before `before` that have no hash and no write of ours on them (no pending record): never to be
   * completed. Versions before the pending writes (2026-11-24) left one for each upload cut short after its record,
   * and a restore or a hand edit can too; nothing serves or deletes them, and their owner's quota counted them. An
   * upload in progress is never among them: it has its pending record, and its id is its start, younger than `before`
   * (uploads are bounded by the request timeout). Indexed by `metadata.sha256` (MediaStorage), where a missing hash,
   * metadata or null metadata all read as null.
   */
  async incompleteFiles(before: Date, limit: number): Promise<Types.ObjectId[]> {
    const since = mongo.ObjectId.createFromTime(Math.floor(before.getTime() / 1000));
    const files = await this.files()
      .find({ 'metadata.sha256': null, _id: { $lt: since } }, { projection: { _id: 1 } })
      .limit(limit)
      .toArray();
    const ids = files.map((file) => file._id);
    const pending = await this.pending.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray();
    return ids.filter((id) => !pending.some((write) => write._id.equals(id)));
  }

  /** Deletes what this bucket's writes pending since before `before` left behind; returns how many. */
  async removeAbandonedWrites(before: Date, limit: number): Promise<number> {
    const abandoned = await this.pending
      .find({ bucket: this.name, since: { $lt: before } })
      .limit(limit)
      .toArray();
    for (const write of abandoned) await this.delete(write._id);
    return abandoned.length;
  }

  files(): mongo.Collection<FileDocument> {
    return this.db.collection<FileDocument>(`${this.name}.files`, { readPreference: PRIMARY });
  }

  chunks(): mongo.Collection<ChunkDocument> {
    return this.db.collection(`${this.name}.chunks`, { readPreference: PRIMARY });
  }
}

/**
 * A record's length in bytes, or undefined when it has none: a decimal string (an import without types) reads as its
 * number, as backups read it (gridfs-completeness.ts). Without one, a file can be neither served (no Content-Length, no
 * ranges) nor summed in a quota: a missing one made the quota's sum NaN, against which every byte check is false.
 */
export function storedLength(length: unknown): number | undefined {
  const bytes = typeof length === 'string' && /^\d+$/.test(length) ? Number(length) : length;
  return typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : undefined;
}

/** How many chunks a file of `length` bytes written in `chunkSize` chunks has, or undefined when either is no size. */
export function chunkCount(length: unknown, chunkSize: unknown): number | undefined {
  const bytes = Number(length);
  const size = Number(chunkSize);
  if (!Number.isSafeInteger(bytes) || bytes < 0 || !Number.isSafeInteger(size) || size <= 0) return undefined;
  return Math.ceil(bytes / size);
}

/** The driver's chunk size, which every file of ours was written with. */
const DEFAULT_CHUNK_SIZE = 255 * 1024;

/**
 * The common fields of a complete file, or null for a missing or incomplete one. A record restored from an older backup
 * or edited by hand may lack what the driver and uploads always write: it reads as if it had the natural value (the
 * chunk size every file is written with, its id's date, an unknown type), not as a file nothing can serve or delete.
 */
export function storedFile(bucket: string, file: FileDocument | null): StoredFile | null {
  const meta = file?.metadata as { contentType?: unknown; sha256?: unknown } | null | undefined;
  if (!file || typeof meta?.sha256 !== 'string' || !meta.sha256) return null;
  const length = storedLength(file.length);
  if (length === undefined) return null;
  const { uploadDate, chunkSize } = file as Partial<FileDocument>;
  return {
    bucket,
    id: file._id,
    length,
    chunkSize: Number.isSafeInteger(chunkSize) && chunkSize! > 0 ? chunkSize! : DEFAULT_CHUNK_SIZE,
    uploadDate:
      uploadDate instanceof Date && !Number.isNaN(uploadDate.getTime()) ? uploadDate : file._id.getTimestamp(),
    contentType:
      typeof meta.contentType === 'string' && meta.contentType ? meta.contentType : 'application/octet-stream',
    sha256: meta.sha256,
  };
}
