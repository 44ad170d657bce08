import { mongo } from 'mongoose';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridFsBucket } from '../../src/media/gridfs-bucket.js';
import { stallingMongoProxy } from '../support/stalling-proxy.js';
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

describe('GridFsBucket.open while every pooled connection is busy (real FerretDB)', () => {
  let direct: mongo.MongoClient;
  let proxied: mongo.MongoClient;
  let proxy: Awaited<ReturnType<typeof stallingMongoProxy>>;
  const uri = workerMongoUri(`_gridfs_busy_${Date.now()}`);
  const bytes = randomBytes(600 * 1024);

  beforeAll(async () => {
    direct = await mongo.MongoClient.connect(uri);
    proxy = await stallingMongoProxy(uri, 'holds_the_connection');
    // One connection, given up on after 200 ms in the queue: the download's reads wait behind the held command.
    proxied = await mongo.MongoClient.connect(proxy.uri, { maxPoolSize: 1, waitQueueTimeoutMS: 200 });
  });

  afterAll(async () => {
    proxy?.release();
    await proxied?.close();
    await proxy?.close();
    await direct?.db().dropDatabase();
    await direct?.close();
  });

  it('waits its turn for a connection, as for a busy database, and sends the whole file', async () => {
    const { id } = (await new GridFsBucket(direct.db(), 'uploads').upload(bytes, 'queued', {}))!;
    const file = (await direct
      .db()
      .collection<{ length: number; chunkSize: number }>('uploads.files')
      .findOne({ _id: id }))!;
    const held = proxied.db().collection('holds_the_connection').findOne({});
    await proxy.stalled;
    // The database answers others meanwhile (as the app's DatabaseAnswers would say): a queue, not an outage.
    const stream = new GridFsBucket(proxied.db(), 'uploads').open(
      { id, length: file.length, chunkSize: file.chunkSize },
      {
        timeoutMs: 10_000,
        databaseAnsweredWithin: () => true,
      },
    );
    const received = (async () => {
      const parts: Buffer[] = [];
      for await (const part of stream) parts.push(part as Buffer);
      return Buffer.concat(parts);
    })();
    // Long enough for the chunk read to give up on the queue more than once.
    await sleep(700);
    proxy.release();
    await held;
    expect((await received).equals(bytes)).toBe(true);
  });
});
