import { MongoClient, ObjectId } from 'mongodb';
import { mongo as driver } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { registerAccount } from '../factories/accounts.js';
import { createProfile, profileInput } from '../factories/profiles.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { lateDeliveryMongoProxy } from '../support/stalling-proxy.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig, workerMongoUri } from '../support/test-env.js';

describe('a profile write that lands after its request failed', () => {
  let proxy: Awaited<ReturnType<typeof lateDeliveryMongoProxy>>;
  let running: RunningApp;
  let mongo: MongoClient;

  beforeAll(async () => {
    proxy = await lateDeliveryMongoProxy(workerMongoUri(), 'findAndModify', 'profiles');
    // The driver gives up on the held command after 1.5 s; the request's deadline comes later.
    running = await startApp(
      testConfig({ MONGODB_URI: proxy.uri, MONGODB_SOCKET_TIMEOUT_MS: '1500', HANDLER_TIMEOUT_MS: '5000' }),
    );
    mongo = await MongoClient.connect(workerMongoUri());
  });

  afterAll(async () => {
    await running?.close();
    await proxy?.close();
    await mongo?.close();
  });

  it('is shown once it has landed, not the profile from before it', async () => {
    const owner = await registerAccount(running.url);
    const profile = await createProfile(running.url, owner, { bio: 'before' });
    await secondInvalidationsDone();
    const bio = async () =>
      ((await (await fetch(`${running.url}/v1/profiles/${profile.id}`)).json()) as { bio: string }).bio;
    expect(await bio()).toBe('before');

    proxy.arm();
    const update = fetch(`${running.url}/v1/profiles/${profile.id}`, {
      method: 'PATCH',
      headers: { ...owner.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ bio: 'after' }),
    });
    await proxy.heldNow;
    // The driver gave up on it: the write's outcome is unknown, and the client is told to retry.
    expect((await update).status).toBe(503);
    // Not applied yet: the old profile is what the database holds, and what a reader gets (and the cache keeps, once
    // the eviction's second pass has run).
    await secondInvalidationsDone();
    expect(await bio()).toBe('before');

    await proxy.deliver();
    const profiles = mongo.db().collection<{ bio: string }>('profiles');
    const stored = async () => (await profiles.findOne({ _id: new ObjectId(profile.id) }))?.bio;
    await expect.poll(stored, { timeout: 5_000 }).toBe('after');

    // The database answers again and holds the update: readers get it, not the profile from before for the TTL (300 s).
    await expect.poll(bio, { timeout: 5_000, interval: 250 }).toBe('after');
    await fetch(`${running.url}/v1/profiles/${profile.id}`, { method: 'DELETE', headers: owner.auth });
  });

  it('shows a created profile once its insert, answered 503, lands, not the absence read before', async () => {
    const owner = await registerAccount(running.url);
    // The insert's answer is lost before the database ran it; it runs later.
    const repository = running.app.get(ProfilesRepository);
    const insert = vi
      .spyOn(repository, 'create')
      .mockRejectedValueOnce(new driver.MongoNetworkTimeoutError('timed out'));
    let landsLater: Parameters<ProfilesRepository['create']>;
    try {
      const created = await fetch(`${running.url}/v1/profiles`, {
        method: 'POST',
        headers: { ...owner.auth, 'content-type': 'application/json' },
        body: JSON.stringify(profileInput()),
      });
      expect(created.status).toBe(503);
      landsLater = insert.mock.calls[0];
    } finally {
      insert.mockRestore();
    }
    // Ids count up, so someone reads the next one before it exists: the absence is cached (30 s).
    const status = async () => (await fetch(`${running.url}/v1/profiles/${String(landsLater[0]._id)}`)).status;
    await secondInvalidationsDone();
    expect(await status()).toBe(404);

    await repository.create(...landsLater);
    await expect.poll(status, { timeout: 5_000, interval: 250 }).toBe(200);
    await fetch(`${running.url}/v1/profiles/${String(landsLater[0]._id)}`, { method: 'DELETE', headers: owner.auth });
  });
});
