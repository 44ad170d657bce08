import { mongo } from 'mongoose';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridFsBucket } from '../../src/media/gridfs-bucket.js';
import { workerMongoUri } from '../support/test-env.js';

describe('GridFsBucket.upload and its keep() check (real FerretDB)', () => {
  let client: mongo.MongoClient;
  let db: mongo.Db;
  let bucket: GridFsBucket;
  // Two chunks, so the write is not a single round trip.
  const bytes = randomBytes(300 * 1024);

  beforeAll(async () => {
    client = await mongo.MongoClient.connect(workerMongoUri(`_gridfs_${Date.now()}`));
    db = client.db();
    bucket = new GridFsBucket(db, 'uploads');
  });

  afterAll(async () => {
    await db?.dropDatabase();
    await client?.close();
  });

  /** Files, chunks and pending writes of the bucket: an upload that was not kept leaves none. */
  const leftovers = async () => ({
    files: await db.collection('uploads.files').countDocuments(),
    chunks: await db.collection('uploads.chunks').countDocuments(),
    pending: await db.collection('media_pending_writes').countDocuments(),
  });

  it('reads from the primary whatever the connection prefers, so an upload sees the writes of those beside it', () => {
    const secondaryFirst = new GridFsBucket(client.db(db.databaseName, { readPreference: 'secondaryPreferred' }), 'x');
    expect(secondaryFirst.files().readPreference?.mode).toBe('primary');
    expect(secondaryFirst.chunks().readPreference?.mode).toBe('primary');
  });

  it('keeps a file whose keep() holds, with its hash and no pending record', async () => {
    const stored = await bucket.upload(bytes, 'kept', {});
    expect(stored).not.toBeNull();
    expect(await leftovers()).toEqual({ files: 1, chunks: 2, pending: 0 });
    await bucket.delete(stored!.id);
  });

  it('deletes everything when keep() says no once the bytes are in', async () => {
    expect(await bucket.upload(bytes, 'refused', {}, () => false)).toBeNull();
    expect(await leftovers()).toEqual({ files: 0, chunks: 0, pending: 0 });
  });

  it('deletes everything when keep() turns to no while the hash is written (a request past its deadline)', async () => {
    let asked = 0;
    expect(await bucket.upload(bytes, 'given up', {}, () => ++asked === 1)).toBeNull();
    expect(asked).toBe(2);
    expect(await leftovers()).toEqual({ files: 0, chunks: 0, pending: 0 });
  });

  it('lets deletes of one file run at the same time: each finishes, nothing is left', async () => {
    for (let round = 0; round < 5; round++) {
      const stored = await bucket.upload(bytes, `deleted-${round}`, {});
      await Promise.all(Array.from({ length: 8 }, () => bucket.delete(stored!.id)));
      expect(await leftovers()).toEqual({ files: 0, chunks: 0, pending: 0 });
    }
  });
});
