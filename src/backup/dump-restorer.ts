import { mongo } from 'mongoose';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { hashingStream } from '../common/streams/hashing-stream.js';
import { readAtMost } from '../common/streams/read-at-most.js';
import type { BackupManifest, ManifestCollection, ManifestFile } from './backup-manifest.js';
import { BACKUP_BOOKKEEPING_COLLECTIONS } from './backup-runs.js';
import type { BackupStorage } from './backup-storage.js';
import { BsonDocumentSplitter } from './bson-stream.js';
import { dumpOrder, GridFsCompleteness } from './gridfs-completeness.js';

const { deserialize, EJSON } = mongo.BSON;

/** A backup file is damaged or does not match its manifest; the message names the file. */
export class BackupIntegrityError extends Error {}

export class TargetNotEmptyError extends Error {}

// Insert in batches bounded by size as well as count: GridFS chunks are 255 KiB each.
const BATCH_DOCUMENTS = 1_000;
const BATCH_BYTES = 8 * 1024 * 1024;
// promoteValues off keeps Int32, Int64 and Double as they were stored.
const DECODING = { promoteValues: false, promoteBuffers: false, bsonRegExp: true } as const;
/**
 * A collection's options and indexes, read whole once gunzipped: far above what a dump writes. The size and SHA-256 are
 * known only once the file has been read, and a few megabytes of gzip can unpack to gigabytes.
 */
const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/**
 * A document of a backup file as the restore inserts it. A throw from inside a stream's write() is not the pipeline's
 * rejection but an uncaught exception: one document that did not decode (a string that is not UTF-8, which the server
 * stores as it was sent) crashed the process mid-restore, the target's collections already dropped.
 */
function decode(document: Buffer, index: number): mongo.Document {
  try {
    return deserialize(document, DECODING);
  } catch (error) {
    throw new Error(`holds a document that cannot be read (document ${index}: ${(error as Error).message})`, {
      cause: error,
    });
  }
}

/**
 * Reads every file of the backup once: size and SHA-256 against the manifest, then gunzip, BSON
 * framing and the decoding of each document, counting documents. Nothing is written anywhere, so a
 * damaged backup is refused before a restore touches its target. Stops when `signal` aborts (a
 * shutdown, a lost lock): reading a large backup takes minutes.
 */
export async function verifyFiles(
  storage: BackupStorage,
  manifest: BackupManifest,
  signal: AbortSignal,
): Promise<void> {
  for (const collection of manifest.collections) {
    await checkFile(storage, manifest.id, collection.metadata, signal, async (json) => {
      EJSON.parse((await readAtMost(json, MAX_METADATA_BYTES)).toString('utf8'));
    });
    await checkFile(storage, manifest.id, collection.data, signal, async (bson) => {
      let documents = 0;
      await pipeline(
        bson,
        new BsonDocumentSplitter(),
        new Writable({
          objectMode: true,
          write(document: Buffer, _encoding, done) {
            documents += 1;
            try {
              decode(document, documents);
            } catch (error) {
              return done(error as Error);
            }
            done();
          },
        }),
      );
      if (documents !== collection.documents)
        throw new Error(`holds ${documents} documents, the manifest says ${collection.documents}`);
    });
  }
}

/** Streams one stored file through hashing and gunzip into `read`; any failure but an abort names the file. */
async function checkFile(
  storage: BackupStorage,
  id: string,
  file: ManifestFile,
  signal: AbortSignal,
  read: (plain: Readable) => Promise<void>,
): Promise<void> {
  const measuring = hashingStream();
  try {
    const gunzip = createGunzip();
    await Promise.all([pipeline(storage.open(id, file.path), measuring.stream, gunzip, { signal }), read(gunzip)]);
    if (measuring.bytes() !== file.bytes)
      throw new Error(`is ${measuring.bytes()} bytes, the manifest says ${file.bytes}`);
    if (measuring.sha256() !== file.sha256) throw new Error('does not match its SHA-256 in the manifest');
  } catch (error) {
    // Stopped, not damaged: the caller says why it stopped.
    if (signal.aborted) throw error;
    throw damaged(id, file.path, error);
  }
}

function damaged(id: string, path: string, error: unknown): BackupIntegrityError {
  return new BackupIntegrityError(`Backup ${id} is damaged: ${path} ${(error as Error).message}`, { cause: error });
}

/**
 * Restores a verified backup into `db`: refuses a database that has collections unless `drop`, which
 * drops them one by one (never the whole database: the backups' lock and run records stay), creates
 * each collection with its indexes, inserts its documents with their exact BSON types, then checks
 * the count the server acknowledged against the manifest. Returns documents restored per collection.
 */
export async function restoreDump(
  db: mongo.Db,
  storage: BackupStorage,
  manifest: BackupManifest,
  options: { drop: boolean; beforeFirstWrite?: () => void },
  signal: AbortSignal,
): Promise<Record<string, number>> {
  const existing = await restorableCollections(db);
  if (existing.length > 0 && !options.drop) {
    throw new TargetNotEmptyError(
      `Database ${db.databaseName} has ${existing.length} collections; restore into an empty one or pass --drop`,
    );
  }
  // Until here nothing has changed: a failure or a stop before this point leaves the target as it was.
  signal.throwIfAborted();
  options.beforeFirstWrite?.();
  for (const name of existing) {
    signal.throwIfAborted();
    await db.dropCollection(name);
  }
  const restored: Record<string, number> = {};
  // Backups written before 2026-12-05 hold what dumps now leave out (gridfs-completeness.ts): the pending-write record
  // of an upload they hold whole, which the media cleanup then deleted as abandoned, and file records without their
  // hash or all their chunks. Restored in the order a dump reads, through the same filter, they are left out here too.
  const completeness = new GridFsCompleteness(manifest.collections.map((collection) => collection.name));
  const entries = new Map(manifest.collections.map((collection) => [collection.name, collection]));
  for (const name of dumpOrder([...entries.keys()])) {
    const keep = completeness.filter(name);
    restored[name] = await restoreCollection(db, storage, manifest.id, entries.get(name)!, signal, keep);
  }
  return restored;
}

/** The target's collections a restore replaces: not the server's own, not the backups' bookkeeping. */
async function restorableCollections(db: mongo.Db): Promise<string[]> {
  const infos = await db.listCollections({}, { nameOnly: true }).toArray();
  return infos
    .map((info) => info.name)
    .filter((name) => !name.startsWith('system.') && !BACKUP_BOOKKEEPING_COLLECTIONS.has(name));
}

async function restoreCollection(
  db: mongo.Db,
  storage: BackupStorage,
  id: string,
  entry: ManifestCollection,
  signal: AbortSignal,
  keep: (document: Buffer) => boolean = () => true,
): Promise<number> {
  // Through pipeline(), not pipe(): a read error (the file gone since the checks, a volume failing) must reject here,
  // not crash the process as an unhandled 'error' event.
  const gunzip = createGunzip();
  const [json] = await Promise.all([
    readAtMost(gunzip, MAX_METADATA_BYTES).catch((error: unknown) => {
      throw damaged(id, entry.metadata.path, error);
    }),
    pipeline(storage.open(id, entry.metadata.path), gunzip, { signal }),
  ]);
  const metadata = EJSON.parse(json.toString('utf8'), { relaxed: false }) as {
    options?: mongo.CreateCollectionOptions;
    indexes?: mongo.IndexDescriptionInfo[];
  };
  const collection = await db.createCollection(entry.name, metadata.options ?? {});
  // Indexes first, on the empty collection: built after the inserts, each was one command as long as the collection is
  // large, and past the connection's socket timeout (MONGODB_SOCKET_TIMEOUT_MS) a large restore failed on it.
  for (const index of metadata.indexes ?? []) {
    if (index.name === '_id_') continue;
    const { key, v: _version, ns: _namespace, ...options } = index as mongo.IndexDescriptionInfo & { ns?: string };
    await collection.createIndex(key, options);
  }
  let inserted = 0;
  let left = 0;
  let batch: mongo.Document[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length) inserted += (await collection.insertMany(batch, { ordered: true })).insertedCount;
    batch = [];
    batchBytes = 0;
  };
  await pipeline(
    storage.open(id, entry.data.path),
    createGunzip(),
    new BsonDocumentSplitter(),
    new Writable({
      objectMode: true,
      write(document: Buffer, _encoding, done) {
        try {
          const decoded = decode(document, inserted + left + batch.length + 1);
          if (!keep(document)) {
            left += 1;
            return done();
          }
          batch.push(decoded);
        } catch (error) {
          return done(damaged(id, entry.data.path, error));
        }
        batchBytes += document.length;
        if (batch.length < BATCH_DOCUMENTS && batchBytes < BATCH_BYTES) return done();
        flush().then(() => done(), done);
      },
      final(done) {
        flush().then(() => done(), done);
      },
    }),
    { signal },
  );
  // Counted from the inserts the server acknowledged: countDocuments() read the whole collection, as long a command.
  if (inserted + left !== entry.documents) {
    throw new BackupIntegrityError(
      `${entry.name}: restored ${inserted} documents (${left} left out), the manifest says ${entry.documents}`,
    );
  }
  return inserted;
}
