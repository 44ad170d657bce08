import { Redis } from 'ioredis';
import { Types } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/app-config.js';
import { ProfileViewsFlusher } from '../../src/profiles/views/profile-views.flusher.js';
import { VIEW_KEYS } from '../../src/profiles/views/profile-views.constants.js';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/**
 * Keys an operator edited by hand while debugging, or a tool copied without their expiries: a lock key without an
 * expiry, a view count under a field that names no profile. Each concerns one key, and must not stop the work for
 * everyone.
 */
describe('Redis keys edited by hand', () => {
  let config: AppConfig;
  let running: RunningApp;
  let url: string;
  let redis: Redis;

  beforeAll(async () => {
    config = testConfig();
    running = await startApp(config);
    url = running.url;
    redis = new Redis(config.redis.url);
  });

  afterAll(async () => {
    await running.close();
    const keys = await redis.keys(`${config.redis.keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('flushes views while a lock key set by hand without an expiry is in the way', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    await redis.set(`${config.redis.keyPrefix}${VIEW_KEYS.lock}`, 'left by hand');
    expect((await fetch(`${url}/v1/profiles/${profile.id}`)).status).toBe(200);

    // Every holder's lock expires; one without an expiry is held by nobody. Before the fix no flush ever ran again.
    const flushed = await running.app.get(ProfileViewsFlusher).flush();
    expect(flushed.views).toBe(1);
    const read = await fetch(`${url}/v1/profiles/${profile.id}`);
    expect(((await read.json()) as { views: number }).views).toBe(1);
  });

  it('counts the views of a batch that also holds fields and counts written by hand', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    const flusher = running.app.get(ProfileViewsFlusher);
    await flusher.flush();
    expect((await fetch(`${url}/v1/profiles/${profile.id}`)).status).toBe(200);
    await redis.hset(`${config.redis.keyPrefix}${VIEW_KEYS.pending}`, {
      'not-a-profile': '3',
      [new Types.ObjectId().toHexString()]: 'many',
    });

    // Before the fix: the id failed the batch's write (a cast error) on every flush, so no view was counted again.
    const flushed = await flusher.flush();
    expect(flushed).toMatchObject({ profiles: 1, views: 1 });
    const read = await fetch(`${url}/v1/profiles/${profile.id}`);
    expect(((await read.json()) as { views: number }).views).toBe(1);
    expect(await redis.exists(`${config.redis.keyPrefix}${VIEW_KEYS.inflight}`)).toBe(0);
  });

  it('lets a member subscribe while their subscription lock is a key set by hand without an expiry', async () => {
    const member = await registerAccount(url);
    await redis.set(`${config.redis.keyPrefix}subscription-change:${member.userId}`, 'left by hand');

    // Before the fix: 409 'Another change to this subscription is in progress; retry', for ever.
    const subscribed = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
    });
    expect(subscribed.status).toBe(201);
  });
});
