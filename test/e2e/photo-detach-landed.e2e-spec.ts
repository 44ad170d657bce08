import { mongo } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/app-config.js';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { uploadMedia } from '../factories/media.js';
import { createProfile } from '../factories/profiles.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

describe('a photo delete whose detach from profiles failed, and landed before or after its error', () => {
  let a: RunningApp;
  let b: RunningApp;

  beforeAll(async () => {
    // Two instances sharing MongoDB and Redis, as behind a load balancer.
    const env = testEnv();
    a = await startApp(loadConfig(env));
    b = await startApp(loadConfig(env));
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  /** A member's profile showing one photo, and what an instance shows of its photos. */
  const profileWithPhoto = async () => {
    const member = await registerAccount(a.url);
    const photo = await uploadMedia(a.url, member, pngStructure(1_000));
    const profile = await createProfile(a.url, member, { photoIds: [photo.id] });
    await secondInvalidationsDone();
    const photoIds = async (app: RunningApp) =>
      ((await (await fetch(`${app.url}/v1/profiles/${profile.id}`)).json()) as { photoIds: string[] }).photoIds;
    return { member, photo, profile, photoIds };
  };

  it('shows the profile without the photo on every instance once the delete, repeated, succeeds', async () => {
    const { member, photo, profile, photoIds } = await profileWithPhoto();
    // Now cached on both instances, and in Redis.
    expect(await photoIds(a)).toEqual([photo.id]);
    expect(await photoIds(b)).toEqual([photo.id]);

    // The detach lands, then the connection dies before its answer comes back.
    const repository = a.app.get(ProfilesRepository);
    const pull = vi.spyOn(repository, 'pullPhoto').mockImplementationOnce(async (...args) => {
      await ProfilesRepository.prototype.pullPhoto.apply(repository, args);
      throw new mongo.MongoNetworkError('connection closed after the write');
    });
    const failed = await fetch(`${a.url}/v1/media/${photo.id}`, { method: 'DELETE', headers: member.auth });
    pull.mockRestore();
    expect(failed.status).toBe(503);
    // The member repeats it: the profile no longer shows the photo, so this detach changes nothing, and the file goes.
    const repeated = await fetch(`${a.url}/v1/media/${photo.id}`, { method: 'DELETE', headers: member.auth });
    expect(repeated.status).toBe(204);
    expect((await fetch(`${a.url}/v1/media/${photo.id}`)).status).toBe(404);

    // Until 2026-12-07 both instances showed the deleted photo (a 404 to whoever followed it) for the 300 s TTL.
    await secondInvalidationsDone();
    for (const app of [a, b]) expect(await photoIds(app)).toEqual([]);
    await fetch(`${a.url}/v1/profiles/${profile.id}`, { method: 'DELETE', headers: member.auth });
  });

  it('shows the profile without the photo on every instance once a detach that failed lands later', async () => {
    const { member, photo, profile, photoIds } = await profileWithPhoto();

    // The detach's answer is lost before the database ran it: it runs later (a server that stalled past the driver's
    // socket timeout runs what waited in its socket once it resumes).
    const repository = a.app.get(ProfilesRepository);
    const pull = vi
      .spyOn(repository, 'pullPhoto')
      .mockRejectedValueOnce(new mongo.MongoNetworkTimeoutError('timed out'));
    const failed = await fetch(`${a.url}/v1/media/${photo.id}`, { method: 'DELETE', headers: member.auth });
    const [mediaId, holders] = pull.mock.calls[0];
    pull.mockRestore();
    expect(failed.status).toBe(503);
    // Meanwhile both instances read the profile, photo and all, and cache it again.
    await secondInvalidationsDone();
    for (const app of [a, b]) expect(await photoIds(app)).toEqual([photo.id]);

    await repository.pullPhoto(mediaId, holders);
    // Until 2026-12-07 both showed the photo, detached in the database, for the 300 s TTL.
    for (const app of [a, b]) await expect.poll(() => photoIds(app), { timeout: 5_000, interval: 200 }).toEqual([]);
    await fetch(`${a.url}/v1/media/${photo.id}`, { method: 'DELETE', headers: member.auth });
    await fetch(`${a.url}/v1/profiles/${profile.id}`, { method: 'DELETE', headers: member.auth });
  });
});
