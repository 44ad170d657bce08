import type { Redis } from 'ioredis';
import { Types } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/app-config.js';
import { ACCOUNT_SESSIONS_CACHE } from '../../src/auth/sessions.service.js';
import { GENERATION_EPOCH_KEY } from '../../src/cache/l2-store.js';
import { PROFILE_CACHE } from '../../src/profiles/profile-caches.js';
import { ProfileViewsFlusher } from '../../src/profiles/views/profile-views.flusher.js';
import { VIEW_KEYS } from '../../src/profiles/views/profile-views.constants.js';
import { SubscriptionSweeper } from '../../src/subscriptions/subscription-sweeper.js';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startAppWithRedis, type AppWithRedis, type RunningApp } from '../support/test-app.js';

/**
 * Keys an operator edited by hand while debugging, or a tool copied without their expiries or of another type: locks
 * without an expiry, view counts and batch keys, unsettled charges, a member's cached sessions, the cache epoch. Each
 * concerns one key, and must not stop the work for everyone, nor let an ended session in.
 */
describe('Redis keys edited by hand', () => {
  let app: AppWithRedis;
  let config: AppConfig;
  let running: RunningApp;
  let url: string;
  let redis: Redis;

  beforeAll(async () => {
    app = await startAppWithRedis();
    ({ config, running, redis } = app);
    url = running.url;
  });

  afterAll(async () => {
    await app.close();
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

  /** A view of the profile, flushed: what its `views` then shows (the read showing them counts one more, unflushed). */
  const viewAndFlush = async (profileId: string): Promise<number> => {
    expect((await fetch(`${url}/v1/profiles/${profileId}`)).status).toBe(200);
    await running.app.get(ProfileViewsFlusher).flush();
    const read = await fetch(`${url}/v1/profiles/${profileId}`);
    return ((await read.json()) as { views: number }).views;
  };

  it('flushes a batch in flight whose id key was deleted by hand', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    await running.app.get(ProfileViewsFlusher).flush();
    await redis.hset(`${config.redis.keyPrefix}${VIEW_KEYS.inflight}`, profile.id, '2');
    await redis.del(`${config.redis.keyPrefix}${VIEW_KEYS.inflightId}`);

    // Before the fix the claim script failed on the missing id (a nil's length) on every flush: no view counted again.
    expect(await viewAndFlush(profile.id)).toBe(2);
    expect(await viewAndFlush(profile.id)).toBe(5);
  });

  it('flushes views while the last batch number is no number, or the batch keys are of another type', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    const flusher = running.app.get(ProfileViewsFlusher);
    await flusher.flush();
    await redis.set(`${config.redis.keyPrefix}${VIEW_KEYS.lastSeq}`, 'many');
    expect(await viewAndFlush(profile.id)).toBe(1);

    const lastSeq = `${config.redis.keyPrefix}${VIEW_KEYS.lastSeq}`;
    await redis.multi().del(lastSeq).hset(lastSeq, 'seq', '1').exec();
    expect(await viewAndFlush(profile.id)).toBe(3);

    // A pending count of another type was renamed into the batch, whose HGETALL then failed on every flush. (It
    // replaces the view the last read counted.)
    await redis.set(`${config.redis.keyPrefix}${VIEW_KEYS.pending}`, 'left by hand');
    await flusher.flush();
    expect(await viewAndFlush(profile.id)).toBe(4);

    await redis.sadd(`${config.redis.keyPrefix}${VIEW_KEYS.inflight}`, 'left by hand');
    expect(await viewAndFlush(profile.id)).toBe(6);
  });

  it('sweeps while the unsettled charges hold a field written by hand, or are of another type', async () => {
    const sweeper = running.app.get(SubscriptionSweeper);
    const key = `${config.redis.keyPrefix}subscriptions:unsettled-charges`;
    const longAgo = String(Date.now() - 3600_000);
    await redis.hset(key, { 'not-a-member ch_1': longAgo, [new Types.ObjectId().toHexString()]: longAgo });

    // Before the fix: the member id failed its cast (BSONError) on every run, so no purge ran again.
    await expect(sweeper.sweep()).resolves.toBeDefined();
    expect(await redis.exists(key)).toBe(0);

    await redis.set(key, 'left by hand');
    await expect(sweeper.sweep()).resolves.toBeDefined(); // before the fix: WRONGTYPE on every run
    await expect(sweeper.sweep()).resolves.toBeDefined();

    // A charge noted at a time that is no number never came due: never refunded, nor forgotten.
    await redis.hset(key, `${new Types.ObjectId().toHexString()} ch_hand`, 'soon');
    await sweeper.sweep();
    expect(await redis.exists(key)).toBe(0);
  });

  /** The token's session version (claim `sv`, absent = 0). */
  const versionOf = (token: string): number =>
    (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { sv?: number }).sv ?? 0;
  /** Writes the account's sessions entry in Redis as a hand edit would, with `value` as its value. */
  const writeSessions = async (userId: string, value: unknown) => {
    const entry = { v: value, exp: Date.now() + 60_000, d: 1, w: Date.now() };
    const key = `${config.redis.keyPrefix}cache:${ACCOUNT_SESSIONS_CACHE.name}:${userId}`;
    await redis.set(key, JSON.stringify(entry), 'PX', 60_000);
  };

  it('admits a member whose sessions entry in Redis has another shape', async () => {
    const member = await registerAccount(url);
    await writeSessions(member.userId, { version: versionOf(member.token) });

    // Before the fix: a 500 (`ended` read as a list) on every request of the member until the entry expired.
    const me = await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth });
    // Admitted: no subscription yet, so 404.
    expect(me.status).toBe(404);
  });

  it('refuses an ended session whose sessions entry in Redis has another shape', async () => {
    const member = await registerAccount(url);
    const logout = await fetch(`${url}/v1/auth/logout`, { method: 'POST', headers: member.auth });
    expect(logout.status).toBe(204);
    await writeSessions(member.userId, { version: versionOf(member.token), ended: 'not a list' });

    // Before the fix: admitted ('not a list' holds no session id).
    const me = await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth });
    expect(me.status).toBe(401);
  });

  it('stores cache entries in Redis again after the cache epoch was replaced by another type', async () => {
    const epoch = `${config.redis.keyPrefix}${GENERATION_EPOCH_KEY}`;
    await redis.multi().del(epoch).hset(epoch, 'epoch', 'left by hand').exec();
    const profile = await createProfile(url, await registerAccount(url));
    expect((await fetch(`${url}/v1/profiles/${profile.id}`)).status).toBe(200);

    // Before the fix no load was stored in Redis again: MGET reads another type as nil, SET NX does not replace it.
    const key = `${config.redis.keyPrefix}cache:${PROFILE_CACHE.name}:${PROFILE_CACHE.key(profile.id)}`;
    await expect.poll(() => redis.exists(key), { timeout: 5_000 }).toBe(1);
  });
});
