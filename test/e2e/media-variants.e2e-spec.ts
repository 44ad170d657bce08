import { getQueueToken } from '@nestjs/bull';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Queue } from 'bull';
import { mongo, Types, type Connection } from 'mongoose';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ABANDONED_AFTER_MS, MEDIA_CLEANUP_QUEUE, MediaCleanup } from '../../src/media/media-cleanup.js';
import { MEDIA_QUEUE, MediaVariantsJob } from '../../src/media/media-variants.job.js';
import { MediaService } from '../../src/media/media.service.js';
import { MediaStorage } from '../../src/media/media.storage.js';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { decodableImage as image } from '../factories/images.js';
import { createProfile, profileInput } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/** Valid PNG structure around bytes no decoder accepts: sniffed as PNG, unreadable for variants. */
const brokenPng = () =>
  Buffer.concat([
    Buffer.from('89504e470d0a1a0a0000000d49484452000000100000001008060000001f15c489', 'hex'),
    Buffer.alloc(200, 7),
  ]);

// ROLE all: the variants job and the cleanup run on this instance, as on a worker.
describe('media variants, profile photos, cleanup and CORS', () => {
  let running: RunningApp;
  let url: string;
  let member: Account;
  let files: () => ReturnType<Connection['collection']>;
  let connection: Connection;

  beforeAll(async () => {
    // Production's lifetime (outside production it is 0): the pending original's minute is below it.
    running = await startApp(testConfig({ ROLE: 'all', MEDIA_CACHE_MAX_AGE_S: '2592000' }));
    url = running.url;
    member = await registerAccount(url);
    connection = running.app.get<Connection>(getConnectionToken());
    files = () => connection.collection('media.files');
  });

  afterAll(async () => {
    await running.close();
  });

  const upload = async (account: Account, bytes: Buffer) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)]), 'upload.bin');
    const response = await fetch(`${url}/v1/media`, { method: 'POST', headers: account.auth, body: form });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; width?: number; height?: number; sha256: string };
  };
  const fetchBytes = async (path: string) => {
    const response = await fetch(`${url}${path}`);
    return { response, body: Buffer.from(await response.arrayBuffer()) };
  };
  /** Waits for the variants job to finish with the file (`done` or `unreadable`). */
  const processed = (id: string, outcome: 'done' | 'unreadable') =>
    expect
      .poll(
        async () => {
          const file = await files().findOne({ _id: new Types.ObjectId(id) });
          return (file?.metadata as { processed?: string } | undefined)?.processed;
        },
        { timeout: 20_000, interval: 200 },
      )
      .toBe(outcome);

  it('records dimensions at upload and makes 128 and 512 px WebP variants served by ?variant=', async () => {
    const original = await image(1000, 600);
    const media = await upload(member, original);
    expect([media.width, media.height]).toEqual([1000, 600]);
    await processed(media.id, 'done');
    for (const [variant, width, height] of [
      ['thumb', 128, 77],
      ['medium', 512, 307],
    ] as const) {
      const { response, body } = await fetchBytes(`/v1/media/${media.id}?variant=${variant}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/webp');
      expect(response.headers.get('cache-control')).toBe('public, max-age=2592000, immutable');
      expect(response.headers.get('etag')).not.toBe(`"${media.sha256}"`);
      const meta = await sharp(body).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['webp', width, height]);
      // Ranges work on variants too.
      const ranged = await fetch(`${url}/v1/media/${media.id}?variant=${variant}`, { headers: { range: 'bytes=0-9' } });
      expect(ranged.status).toBe(206);
      expect(Buffer.from(await ranged.arrayBuffer()).equals(body.subarray(0, 10))).toBe(true);
    }
    // The original is unchanged.
    const { body } = await fetchBytes(`/v1/media/${media.id}`);
    expect(body.equals(original)).toBe(true);
  });

  it('makes variants only once when the job runs again, and never enlarges a small image', async () => {
    const media = await upload(member, await image(100, 50, 'png'));
    await processed(media.id, 'done');
    const variants = connection.collection('media_variants.files');
    const query = { 'metadata.originalId': new Types.ObjectId(media.id) };
    expect(await variants.countDocuments(query)).toBe(2);
    // A retried or duplicated job finds both variants and adds none.
    await running.app.get(MediaVariantsJob).run({ data: { mediaId: media.id } });
    expect(await variants.countDocuments(query)).toBe(2);
    for (const variant of ['thumb', 'medium']) {
      const { body } = await fetchBytes(`/v1/media/${media.id}?variant=${variant}`);
      const meta = await sharp(body).metadata();
      expect([meta.format, meta.width, meta.height], variant).toEqual(['webp', 100, 50]);
    }
  });

  it('serves the original, cached briefly, while no variant exists; an unreadable image is not retried', async () => {
    const bytes = brokenPng();
    const media = await upload(member, bytes);
    await processed(media.id, 'unreadable');
    // Ended at once: completed, so removed (removeOnComplete), not failed and waiting in the queue for another try.
    const queue = running.app.get<Queue>(getQueueToken(MEDIA_QUEUE));
    await expect.poll(() => queue.getJob(`variants:${media.id}`), { timeout: 5_000 }).toBeNull();
    const { response, body } = await fetchBytes(`/v1/media/${media.id}?variant=thumb`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('cache-control')).toBe('public, max-age=60');
    expect(body.equals(bytes)).toBe(true);
    // No date: the variant may be made within the upload's second, and only the ETag tells the two apart.
    expect(response.headers.get('last-modified')).toBeNull();
    const future = new Date(Date.now() + 3_600_000).toUTCString();
    const past = new Date(0).toUTCString();
    for (const [header, date] of [
      ['if-modified-since', future],
      ['if-unmodified-since', past],
    ]) {
      const conditional = await fetch(`${url}/v1/media/${media.id}?variant=thumb`, { headers: { [header]: date } });
      expect({ header, status: conditional.status }).toEqual({ header, status: 200 });
    }
    const invalid = await fetch(`${url}/v1/media/${media.id}?variant=huge`);
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('attaches only the member’s own uploads to a profile (403 for another’s, 422 for unknown ids)', async () => {
    const own = await upload(member, await image(40, 40));
    const stranger = await registerAccount(url);
    const theirs = await upload(stranger, await image(40, 40));
    const refused = await fetch(`${url}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...member.auth },
      body: JSON.stringify(profileInput({ photoIds: [theirs.id] })),
    });
    expect(refused.status).toBe(403);
    const profile = await createProfile(url, member, { photoIds: [own.id] });
    expect(profile.photoIds).toEqual([own.id]);
    const patch = (photoIds: string[]) =>
      fetch(`${url}/v1/profiles/${profile.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...member.auth },
        body: JSON.stringify({ photoIds }),
      });
    expect((await patch([own.id, theirs.id])).status).toBe(403);
    const unknown = await patch([new Types.ObjectId().toHexString()]);
    expect(unknown.status).toBe(422);
    expect(((await unknown.json()) as { detail: string }).detail).toMatch(/No such media/);
    const read = await fetch(`${url}/v1/profiles/${profile.id}`, { headers: member.auth });
    expect(((await read.json()) as { photoIds: string[] }).photoIds).toEqual([own.id]);
    // Ids in upper case name the same files, and are kept as the API writes them: the same id twice is a 400.
    const upperCase = await patch([own.id.toUpperCase()]);
    expect(upperCase.status).toBe(200);
    expect(((await upperCase.json()) as { photoIds: string[] }).photoIds).toEqual([own.id]);
    expect((await patch([own.id, own.id.toUpperCase()])).status).toBe(400);
  });

  it('deleting an upload removes its variants and detaches it from the profile (cached read included)', async () => {
    const owner = await registerAccount(url);
    const [first, second] = [await upload(owner, await image(300, 200)), await upload(owner, await image(200, 300))];
    await processed(first.id, 'done');
    const profile = await createProfile(url, owner, { photoIds: [first.id.toUpperCase(), second.id] });
    const read = async () => {
      const response = await fetch(`${url}/v1/profiles/${profile.id}`, { headers: owner.auth });
      return ((await response.json()) as { photoIds: string[] }).photoIds;
    };
    expect(await read()).toEqual([first.id, second.id]); // now cached
    const deleted = await fetch(`${url}/v1/media/${first.id}`, { method: 'DELETE', headers: owner.auth });
    expect(deleted.status).toBe(204);
    expect(await read()).toEqual([second.id]);
    const id = new Types.ObjectId(first.id);
    expect(await connection.collection('media_variants.files').countDocuments({ 'metadata.originalId': id })).toBe(0);
    expect(await connection.collection('media.chunks').countDocuments({ files_id: id })).toBe(0);
    expect((await fetch(`${url}/v1/media/${first.id}?variant=thumb`)).status).toBe(404);
  });

  describe('an upload deleted while its variants are made', () => {
    const storage = () => running.app.get(MediaStorage);
    const variantsJob = () => running.app.get(MediaVariantsJob);
    const variantsOf = (id: string) =>
      connection.collection('media_variants.files').countDocuments({ 'metadata.originalId': new Types.ObjectId(id) });
    /** An upload whose variants are not made yet, as while its job waits, with no job of it running. */
    const uploadWithoutVariants = async (owner: Account) => {
      const media = await upload(owner, await image(300, 200));
      await processed(media.id, 'done');
      const variants = storage().variants;
      const made = await variants
        .files()
        .find({ 'metadata.originalId': new Types.ObjectId(media.id) })
        .toArray();
      for (const variant of made) await variants.delete(variant._id);
      expect(await variantsOf(media.id)).toBe(0);
      return media;
    };
    /**
     * Starts `DELETE /v1/media/:id` and resolves once it has listed the file's variants and is about to remove the
     * original, where it waits until `finish()`, which resolves with its answer.
     */
    const startDeleteHeldBeforeOriginal = async (owner: Account, id: string) => {
      const originals = storage().originals;
      const deleteFile = originals.delete.bind(originals);
      let reached!: () => void;
      const atOriginal = new Promise<void>((resolve) => (reached = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      vi.spyOn(originals, 'delete').mockImplementationOnce(async (fileId) => {
        reached();
        await released;
        return deleteFile(fileId);
      });
      const answer = fetch(`${url}/v1/media/${id}`, { method: 'DELETE', headers: owner.auth });
      await atOriginal;
      return {
        finish: () => {
          release();
          return answer;
        },
      };
    };
    afterEach(() => vi.restoreAllMocks());

    it('removes variants written between the delete’s listing of them and its removal of the original', async () => {
      const owner = await registerAccount(url);
      const media = await uploadWithoutVariants(owner);
      const storeVariant = storage().storeVariant.bind(storage());
      let held: { finish: () => Promise<Response> } | undefined;
      // The job has found the original; the delete now lists no variants and waits, while the job writes both and
      // looks at the original again.
      vi.spyOn(storage(), 'storeVariant').mockImplementationOnce(async (...args) => {
        held = await startDeleteHeldBeforeOriginal(owner, media.id);
        return storeVariant(...args);
      });
      await variantsJob().run({ data: { mediaId: media.id } });
      expect((await held!.finish()).status).toBe(204);
      expect(await variantsOf(media.id)).toBe(0);
      expect((await fetch(`${url}/v1/media/${media.id}?variant=thumb`)).status).toBe(404);
    });

    it('removes, on the next try, a variant that a failed try wrote after the delete listed them', async () => {
      const owner = await registerAccount(url);
      const media = await uploadWithoutVariants(owner);
      const storeVariant = storage().storeVariant.bind(storage());
      let held: { finish: () => Promise<Response> } | undefined;
      vi.spyOn(storage(), 'storeVariant')
        .mockImplementationOnce(async (...args) => {
          held = await startDeleteHeldBeforeOriginal(owner, media.id);
          return storeVariant(...args);
        })
        .mockRejectedValueOnce(new Error('connection closed'));
      await expect(variantsJob().run({ data: { mediaId: media.id } })).rejects.toThrow('connection closed');
      expect((await held!.finish()).status).toBe(204);
      expect(await variantsOf(media.id)).toBe(1);
      await variantsJob().run({ data: { mediaId: media.id } }); // Bull's retry
      expect(await variantsOf(media.id)).toBe(0);
    });

    it('cannot be attached again after its delete failed halfway, and the cleanup finishes the delete', async () => {
      const owner = await registerAccount(url);
      const media = await uploadWithoutVariants(owner);
      const profile = await createProfile(url, owner);
      // The database fails after the delete marked the original: 503, the file whole but its variants gone.
      vi.spyOn(storage().originals, 'delete').mockRejectedValueOnce(new mongo.MongoNetworkError('connection reset'));
      const failed = await fetch(`${url}/v1/media/${media.id}`, { method: 'DELETE', headers: owner.auth });
      expect(failed.status).toBe(503);
      const attach = await fetch(`${url}/v1/profiles/${profile.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...owner.auth },
        body: JSON.stringify({ photoIds: [media.id] }),
      });
      expect(attach.status).toBe(422);

      const result = await running.app.get(MediaCleanup).run();
      expect(result.deleted).toBeGreaterThanOrEqual(1);
      expect((await fetch(`${url}/v1/media/${media.id}`)).status).toBe(404);
      expect(await files().countDocuments({ _id: new Types.ObjectId(media.id) })).toBe(0);
    });

    it('finishes the deletes after one the cleanup cannot finish, and reports that one as failed', async () => {
      const owner = await registerAccount(url);
      const uploads = [await uploadWithoutVariants(owner), await uploadWithoutVariants(owner)];
      const ids = uploads.map((upload) => new Types.ObjectId(upload.id));
      // What two deletes that failed halfway leave; the first of them fails again at every try.
      await files().updateMany({ _id: { $in: ids } }, { $set: { 'metadata.deleting': true } });
      const media = running.app.get(MediaService);
      const finishDelete = media.finishDelete.bind(media);
      vi.spyOn(media, 'finishDelete').mockImplementation((id) =>
        id.equals(ids[0]) ? Promise.reject(new Error('cannot be removed')) : finishDelete(id),
      );

      const result = await running.app.get(MediaCleanup).run();
      expect(result.failed).toBeGreaterThanOrEqual(1);
      expect(await files().countDocuments({ _id: ids[1] })).toBe(0);
      expect(await files().countDocuments({ _id: ids[0] })).toBe(1);

      vi.restoreAllMocks();
      expect((await running.app.get(MediaCleanup).run()).failed).toBe(0);
      expect(await files().countDocuments({ _id: ids[0] })).toBe(0);
    });

    it('is not requeued by the cleanup when its delete failed halfway, leaving the original marked', async () => {
      const owner = await registerAccount(url);
      const media = await uploadWithoutVariants(owner);
      const id = new Types.ObjectId(media.id);
      await files().updateOne({ _id: id }, { $unset: { 'metadata.processed': '' } });
      const later = new Date(Date.now() + 11 * 60_000);
      expect(await storage().unprocessed(later, 500)).toContainEqual(id);
      // What a delete leaves when the database fails after its first write: the original, marked.
      await files().updateOne({ _id: id }, { $set: { 'metadata.deleting': true } });
      expect(await storage().unprocessed(later, 500)).not.toContainEqual(id);
    });
  });

  describe('a photo deleted while a profile write attaches it', () => {
    const deleteMedia = (account: Account, id: string) =>
      fetch(`${url}/v1/media/${id}`, { method: 'DELETE', headers: account.auth });
    const photoIdsOf = async (account: Account, profileId: string) => {
      const response = await fetch(`${url}/v1/profiles/${profileId}`, { headers: account.auth });
      return ((await response.json()) as { photoIds: string[] }).photoIds;
    };
    const patchPhotos = (account: Account, profileId: string, photoIds: string[]) =>
      fetch(`${url}/v1/profiles/${profileId}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...account.auth },
        body: JSON.stringify({ photoIds }),
      });

    it('does not stay attached when the delete runs after the write checked the file and before it lands', async () => {
      const owner = await registerAccount(url);
      const patched = await upload(owner, await image(40, 40));
      const profiles = running.app.get(ProfilesRepository);
      const profile = await createProfile(url, owner);
      // The whole delete runs in the window between the write's check of the file and its database write.
      const updateOwned = profiles.updateOwned.bind(profiles);
      const update = vi.spyOn(profiles, 'updateOwned').mockImplementationOnce(async (...args) => {
        expect((await deleteMedia(owner, patched.id)).status).toBe(204);
        return updateOwned(...args);
      });
      const patch = await patchPhotos(owner, profile.id, [patched.id]);
      update.mockRestore();
      expect(patch.status).toBe(200);
      expect(((await patch.json()) as { photoIds: string[] }).photoIds).toEqual([]);
      expect(await photoIdsOf(owner, profile.id)).toEqual([]);

      const other = await registerAccount(url);
      const otherPhoto = await upload(other, await image(40, 40));
      const create = profiles.create.bind(profiles);
      const insert = vi.spyOn(profiles, 'create').mockImplementationOnce(async (...args) => {
        expect((await deleteMedia(other, otherPhoto.id)).status).toBe(204);
        return create(...args);
      });
      const own = await createProfile(url, other, { photoIds: [otherPhoto.id] });
      insert.mockRestore();
      expect(own.photoIds).toEqual([]);
      expect(await photoIdsOf(other, own.id)).toEqual([]);
    });

    it('does not stay attached when the write lands after the delete detached the file and before it removed it', async () => {
      const owner = await registerAccount(url);
      const photo = await upload(owner, await image(40, 40));
      const profile = await createProfile(url, owner);
      const storage = running.app.get(MediaStorage);
      const removeFile = storage.remove.bind(storage);
      let patched: Response | undefined;
      const remove = vi.spyOn(storage, 'remove').mockImplementationOnce(async (id) => {
        patched = await patchPhotos(owner, profile.id, [photo.id]);
        return removeFile(id);
      });
      const deleted = await deleteMedia(owner, photo.id);
      remove.mockRestore();
      expect(deleted.status).toBe(204);
      expect(patched?.status).toBe(200);
      expect(await photoIdsOf(owner, profile.id)).toEqual([]);
    });
  });

  it('cleanup runs once at start, so a restarted worker does not leave interrupted writes for an interval', async () => {
    const queue = running.app.get<Queue>(getQueueToken(MEDIA_CLEANUP_QUEUE));
    await expect
      .poll(
        async () => (await queue.getJobs(['completed', 'active', 'waiting'])).some((job) => job.name === 'cleanup'),
        {
          timeout: 10_000,
        },
      )
      .toBe(true);
  });

  it('cleanup removes writes cut short (chunks without a file, a file without its hash) and keeps recent ones', async () => {
    const pending = connection.collection('media_pending_writes');
    const chunks = connection.collection('media.chunks');
    const long = new Date(Date.now() - ABANDONED_AFTER_MS - 60_000);
    // An upload cut off after two chunks, and one cut off after its file document, before its hash.
    const [orphanChunks, hashless, recent] = [new Types.ObjectId(), new Types.ObjectId(), new Types.ObjectId()];
    for (const id of [orphanChunks, recent]) {
      await chunks.insertMany([0, 1].map((n) => ({ files_id: id, n, data: Buffer.alloc(10) })));
    }
    await files().insertOne({ _id: hashless, length: 0, chunkSize: 261_120, uploadDate: long, filename: 'x' });
    await pending.insertMany([
      { _id: orphanChunks, bucket: 'media', since: long },
      { _id: hashless, bucket: 'media', since: long },
      { _id: recent, bucket: 'media', since: new Date() },
    ]);
    const result = await running.app.get(MediaCleanup).run();
    expect(result.abandoned).toBe(2);
    expect(await chunks.countDocuments({ files_id: orphanChunks })).toBe(0);
    expect(await files().countDocuments({ _id: hashless })).toBe(0);
    expect(await chunks.countDocuments({ files_id: recent })).toBe(2);
    expect(await pending.countDocuments({ _id: { $in: [orphanChunks, hashless] } })).toBe(0);
    expect(await pending.countDocuments({ _id: recent })).toBe(1);
    await pending.deleteOne({ _id: recent });
    await chunks.deleteMany({ files_id: recent });
  });

  it('pings Bull’s own connections, to replace one gone silent (checkQueueConnections)', async () => {
    const queue = running.app.get<Queue>(getQueueToken(MEDIA_QUEUE));
    expect(queue.clients.length).toBeGreaterThanOrEqual(2); // a worker's: commands, and its wait for the next job
    const pings = queue.clients.map((client) => vi.spyOn(client, 'ping'));
    try {
      await vi.waitFor(() => pings.forEach((ping) => expect(ping).toHaveBeenCalled()), { timeout: 12_000 });
    } finally {
      pings.forEach((ping) => ping.mockRestore());
    }
  });

  it('cleanup asks again for variants whose request was lost', async () => {
    const media = await upload(member, await image(64, 64));
    await processed(media.id, 'done');
    const id = new Types.ObjectId(media.id);
    await connection.collection('media_variants.files').deleteMany({ 'metadata.originalId': id });
    await files().updateOne({ _id: id }, { $unset: { 'metadata.processed': '' } });
    const later = new Date(Date.now() + 11 * 60_000);
    expect((await running.app.get(MediaCleanup).run(later)).requeued).toBeGreaterThanOrEqual(1);
    await processed(media.id, 'done');
    expect(await connection.collection('media_variants.files').countDocuments({ 'metadata.originalId': id })).toBe(2);
  });

  it('cleanup asks again for variants whose job failed all its tries (its failed job kept in the queue)', async () => {
    const media = await upload(member, await image(64, 64));
    await processed(media.id, 'done');
    const id = new Types.ObjectId(media.id);
    await connection.collection('media_variants.files').deleteMany({ 'metadata.originalId': id });
    await files().updateOne({ _id: id }, { $unset: { 'metadata.processed': '' } });
    // A job of this file that failed its last try (say, MongoDB was down throughout), kept under the file's job id.
    const queue = running.app.get<Queue>(getQueueToken(MEDIA_QUEUE));
    const failing = await queue.add('variants', { mediaId: 'not an id' }, { jobId: `variants:${media.id}` });
    await expect.poll(() => failing.isFailed(), { timeout: 20_000, interval: 200 }).toBe(true);

    const later = new Date(Date.now() + 11 * 60_000);
    expect((await running.app.get(MediaCleanup).run(later)).requeued).toBeGreaterThanOrEqual(1);
    await processed(media.id, 'done');
    expect(await connection.collection('media_variants.files').countDocuments({ 'metadata.originalId': id })).toBe(2);
  });

  it('makes the variants of one image at a time per worker, as operations sizes its memory', async () => {
    const queue = running.app.get<Queue>(getQueueToken(MEDIA_QUEUE));
    const variants = running.app.get(MediaVariantsJob);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let inProgress = 0;
    let mostAtOnce = 0;
    const run = vi.spyOn(variants, 'run').mockImplementation(async () => {
      mostAtOnce = Math.max(mostAtOnce, ++inProgress);
      await released;
      inProgress -= 1;
    });
    try {
      const ids = [new Types.ObjectId(), new Types.ObjectId()];
      for (const id of ids) await variants.enqueue(id);
      await expect.poll(() => run.mock.calls.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
      // A second run would start at once beside the first (Bull's loops wait on Redis for the next job): give it
      // ample time, then check that it did not.
      await expect
        .poll(() => queue.getActiveCount(), { timeout: 5_000, interval: 250 })
        .toBeGreaterThan(1)
        .catch(() => undefined);
      expect(mostAtOnce).toBe(1);
      expect(await queue.getActiveCount()).toBe(1);
      release();
      await expect.poll(() => run.mock.calls.length, { timeout: 20_000 }).toBe(2);
    } finally {
      release();
      run.mockRestore();
    }
  });

  it('answers CORS preflights with a one-day max-age and lets pages read caching and range headers', async () => {
    const preflight = await fetch(`${url}/v1/media`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.test',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-max-age')).toBe('86400');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    const media = await upload(member, await image(20, 20));
    const get = await fetch(`${url}/v1/media/${media.id}`, { headers: { origin: 'https://app.example.test' } });
    await get.arrayBuffer();
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
    expect(get.headers.get('access-control-expose-headers')).toMatch(/ETag.*Content-Range/);
  });
});
