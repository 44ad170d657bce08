import { mongo } from 'mongoose';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { ManifestCollection, ManifestFile } from './backup-manifest.js';
import { BACKUP_BOOKKEEPING_COLLECTIONS } from './backup-runs.js';
import { hashingStream } from '../common/streams/hashing-stream.js';
import type { BackupDraft } from './backup-storage.js';
import { dumpOrder, GridFsCompleteness } from './gridfs-completeness.js';

const { EJSON } = mongo.BSON;

/**
 * Dumps every collection of `db` in mongodump's layout: `<db>/<collection>.bson.gz` (the documents'
 * BSON bytes, as the server sent them, one after another) and `<db>/<collection>.metadata.json.gz`
 * (options and indexes, canonical Extended JSON), so `mongorestore --gzip --dir <backup>` restores it
 * without this project. Documents stream through a cursor in raw form: memory stays constant however
 * large a collection is. GridFS buckets are ordinary collections and come along, except the records of
 * files whose chunks the dump does not all hold (GridFsCompleteness); the backups' own records stay out.
 */
export async function writeDump(db: mongo.Db, draft: BackupDraft, signal: AbortSignal): Promise<ManifestCollection[]> {
  const infos = await db.listCollections({}, { nameOnly: false }).toArray();
  const names = dumpOrder(
    infos
      .filter(
        (info) =>
          info.type === 'collection' &&
          !info.name.startsWith('system.') &&
          !BACKUP_BOOKKEEPING_COLLECTIONS.has(info.name),
      )
      .map((info) => info.name),
  );
  const gridFs = new GridFsCompleteness(names);
  const collections: ManifestCollection[] = [];
  for (const name of names) {
    const info = infos.find((entry) => entry.name === name) as { options?: object };
    const collection = db.collection(name);
    const base = `${db.databaseName}/${name}`;
    let documents = 0;
    let omitted = 0;
    // Asked again here, not at the listing: a bucket's first upload creates its chunks collection on the way.
    const bucket = gridFs.unlistedChunks(name);
    if (bucket !== undefined && (await db.listCollections({ name: `${bucket}.chunks` }).toArray()).length > 0) {
      gridFs.chunksNotDumped(bucket);
    }
    const keep = gridFs.filter(name);
    const counting = new Transform({
      transform(document: Buffer, _encoding, done) {
        let kept: boolean;
        try {
          kept = !keep || keep(document);
        } catch (error) {
          // A GridFS document decoded to be counted (a string that is not UTF-8): the backup fails naming where.
          return done(new Error(`${name} holds a document that cannot be read: ${(error as Error).message}`));
        }
        if (!kept) {
          omitted += 1;
          return done();
        }
        documents += 1;
        done(null, document);
      },
    });
    const cursor = collection.find({}, { raw: true, batchSize: 1_000 });
    const data = await writeFile(draft, signal, `${base}.bson.gz`, Readable.from(cursor), counting);
    const metadataJson = EJSON.stringify(
      { options: info.options ?? {}, indexes: await collection.indexes(), collectionName: name, type: 'collection' },
      { relaxed: false },
    );
    const metadata = await writeFile(
      draft,
      signal,
      `${base}.metadata.json.gz`,
      Readable.from([Buffer.from(metadataJson)]),
    );
    collections.push({ name, documents, ...(omitted > 0 && { omitted }), data, metadata });
  }
  return collections;
}

/** Gzips `source` into `path` of the draft, hashing the stored bytes. */
async function writeFile(
  draft: BackupDraft,
  signal: AbortSignal,
  path: string,
  source: Readable,
  ...transforms: Transform[]
): Promise<ManifestFile> {
  const measuring = hashingStream();
  const target: Writable = await draft.create(path);
  await pipeline([source, ...transforms, createGzip(), measuring.stream, target], { signal });
  return { path, bytes: measuring.bytes(), sha256: measuring.sha256() };
}
