import { getConnectionToken } from '@nestjs/mongoose';
import { mongo, Types, type Connection } from 'mongoose';
import type { CommandStartedEvent } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/app-config.js';
import { MediaVariantsJob } from '../../src/media/media-variants.job.js';
import { MediaStorage } from '../../src/media/media.storage.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { decodableImage } from '../factories/images.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

/** Counts the `find` commands an instance sends to a GridFS files collection, as the server sees them. */
function countFinds(running: RunningApp, collection: 'media.files' | 'media.chunks' | 'media_variants.files') {
  let count = 0;
  const client = running.app.get<Connection>(getConnectionToken()).getClient();
  const listener = (event: CommandStartedEvent) => {
    if (event.commandName === 'find' && event.command.find === collection) count += 1;
  };
  client.on('commandStarted', listener);
  return { count: () => count, stop: () => client.off('commandStarted', listener) };
}

// ROLE api (the default here): no variants job runs unless the test runs it.
describe('media downloads from the cache', () => {
  let a: RunningApp;
  let b: RunningApp;
  let owner: Account;

  beforeAll(async () => {
    // Two instances sharing MongoDB and Redis, as behind a load balancer.
    const env = testEnv();
    a = await startApp(loadConfig(env));
    b = await startApp(loadConfig(env));
    owner = await registerAccount(a.url);
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  const upload = async (bytes: Buffer) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)]), 'photo.jpg');
    const response = await fetch(`${a.url}/v1/media`, { method: 'POST', headers: owner.auth, body: form });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; sha256: string };
  };
  /** Status, type and body length of a download, read to the end. */
  const download = async (app: RunningApp, path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${app.url}/v1/media/${path}`, { headers });
    const body = Buffer.from(await response.arrayBuffer());
    return { status: response.status, type: response.headers.get('content-type'), length: body.length };
  };

  it('looks a file up once for repeated downloads and revalidations, on either instance', async () => {
    const bytes = await decodableImage(64, 48);
    const media = await upload(bytes);
    const [onA, onB] = [countFinds(a, 'media.files'), countFinds(b, 'media.files')];

    for (let i = 0; i < 3; i++)
      expect(await download(a, media.id)).toEqual({ status: 200, type: 'image/jpeg', length: bytes.length });
    expect((await download(a, media.id, { 'if-none-match': `"${media.sha256}"` })).status).toBe(304);
    // The other instance finds the record in Redis, then in its own memory.
    for (let i = 0; i < 2; i++) expect((await download(b, media.id)).status).toBe(200);
    expect([onA.count(), onB.count()]).toEqual([1, 0]);
    onA.stop();
    onB.stop();
  });

  it('answers a HEAD from the file record, reading none of its chunks', async () => {
    const bytes = await decodableImage(64, 48);
    const media = await upload(bytes);
    expect((await download(a, media.id)).status).toBe(200); // the record is cached now
    const chunkReads = countFinds(a, 'media.chunks');
    const head = await fetch(`${a.url}/v1/media/${media.id}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    // Range is for GET alone (RFC 9110, section 14.2): a HEAD ignores it, whether it fits the file or not.
    for (const range of ['bytes=0-9', `bytes=${bytes.length}-`]) {
      const ignored = await fetch(`${a.url}/v1/media/${media.id}`, { method: 'HEAD', headers: { range } });
      expect([ignored.status, ignored.headers.get('content-length')], range).toEqual([200, String(bytes.length)]);
      expect(ignored.headers.get('content-range')).toBeNull();
    }
    // Fastify drains a HEAD's stream once the reply is out; give it the time it would take.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(chunkReads.count()).toBe(0);
    // The same count sees a GET's reads, so the zero above is not a blind counter.
    expect((await download(a, media.id)).length).toBe(bytes.length);
    expect(chunkReads.count()).toBeGreaterThan(0);
    chunkReads.stop();
  });

  it('forgets a deleted file on every instance', async () => {
    const media = await upload(await decodableImage(32, 32));
    expect((await download(a, media.id)).status).toBe(200);
    expect((await download(b, media.id)).status).toBe(200); // cached in b's memory too
    const deleted = await fetch(`${a.url}/v1/media/${media.id}`, { method: 'DELETE', headers: owner.auth });
    expect(deleted.status).toBe(204);
    // Conditional requests are answered from the record alone: a 304 here would mean it was still kept.
    const revalidate = { 'if-none-match': `"${media.sha256}"` };
    expect((await download(a, media.id, revalidate)).status).toBe(404);
    await expect
      .poll(async () => (await download(b, media.id, revalidate)).status, { timeout: 1_000, interval: 20 })
      .toBe(404);
  });

  it('answers 404, with nothing cacheable, for a file deleted behind a cached lookup', async () => {
    const media = await upload(await decodableImage(32, 32));
    expect((await download(a, media.id)).status).toBe(200);
    // Deleted without the eviction, as if its invalidation had not arrived yet.
    const database = a.app.get<Connection>(getConnectionToken());
    const id = new Types.ObjectId(media.id);
    await database.collection('media.files').deleteOne({ _id: id });
    await database.collection('media.chunks').deleteMany({ files_id: id });

    const response = await fetch(`${a.url}/v1/media/${media.id}`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await response.json()) as { detail: string }).detail).toBe('Media not found');
    // The file's validators and year-long caching are not carried over to the error.
    expect(response.headers.get('etag')).not.toBe(`"${media.sha256}"`);
    expect(response.headers.get('last-modified')).toBeNull();
    expect(response.headers.get('cache-control')).toBe('no-store');
    // And the record is dropped: a revalidation now asks the database instead of answering 304 from it.
    await expect
      .poll(async () => (await download(a, media.id, { 'if-none-match': `"${media.sha256}"` })).status)
      .toBe(404);
  });

  it('forgets the file even when its delete fails halfway, its document gone and its chunks left', async () => {
    const media = await upload(await decodableImage(32, 32));
    for (const app of [a, b]) expect((await download(app, media.id)).status).toBe(200);
    const bucket = a.app.get(MediaStorage).originals;
    const files = a.app.get<Connection>(getConnectionToken()).collection('media.files');
    // The driver deletes the document first; the connection is lost before the chunks go.
    const deleteFile = vi.spyOn(bucket, 'delete').mockImplementationOnce(async (id) => {
      await files.deleteOne({ _id: id });
      throw new mongo.MongoNetworkError('connection lost');
    });
    const deleted = await fetch(`${a.url}/v1/media/${media.id}`, { method: 'DELETE', headers: owner.auth });
    expect(deleted.status).toBe(503);
    deleteFile.mockRestore();

    // Kept, either record would serve the chunks left behind (or a 304) for its whole TTL.
    const revalidate = { 'if-none-match': `"${media.sha256}"` };
    expect((await download(a, media.id, revalidate)).status).toBe(404);
    await expect
      .poll(async () => (await download(b, media.id, revalidate)).status, { timeout: 1_000, interval: 20 })
      .toBe(404);
  });

  it('serves a variant asked for before it was made once it exists, without waiting for the cache to expire', async () => {
    const media = await upload(await decodableImage(600, 400));
    const pending = await download(a, `${media.id}?variant=thumb`);
    expect([pending.status, pending.type]).toEqual([200, 'image/jpeg']); // the original stands in meanwhile
    const variants = countFinds(a, 'media_variants.files');
    expect((await download(a, `${media.id}?variant=thumb`)).type).toBe('image/jpeg');
    expect(variants.count()).toBe(1); // not made yet: looked up again, not remembered as missing
    variants.stop();

    await a.app.get(MediaVariantsJob).run({ data: { mediaId: media.id } });
    for (const app of [a, b]) expect((await download(app, `${media.id}?variant=thumb`)).type).toBe('image/webp');
  });
});
