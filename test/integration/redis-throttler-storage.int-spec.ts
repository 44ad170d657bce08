import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../../src/redis/redis-client.factory.js';
import { LocalThrottleCounts } from '../../src/throttling/local-throttle-counts.js';
import { RedisThrottlerStorage } from '../../src/throttling/redis-throttler.storage.js';
import { RedisProcess } from '../support/redis-process.js';
import { requiredEnv } from '../support/test-env.js';

const quiet = { log: () => undefined, warn: () => undefined } as never;

/** Checks give up after `timeoutMs` (THROTTLE_REDIS_TIMEOUT_MS); exactness tests allow Redis a second. */
function newStorage(redis: Redis, timeoutMs = 1_000) {
  const registry = new Registry();
  const metrics = {
    rejected: new Counter({ name: 'rejected', help: 'x', labelNames: ['throttler'], registers: [registry] }),
    countedLocally: new Counter({ name: 'counted_locally', help: 'x', registers: [registry] }),
  };
  const count = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  const local = new LocalThrottleCounts(1_000, () => undefined);
  return { storage: new RedisThrottlerStorage(redis, local, metrics, timeoutMs), count };
}

describe('RedisThrottlerStorage against the real Redis', () => {
  let redis: Redis;

  beforeAll(async () => {
    redis = createRedisClient(
      {
        url: requiredEnv('REDIS_URL'),
        keyPrefix: `vesta-test-throttle-${randomUUID()}:`,
        connectTimeoutMs: 2_000,
        commandTimeoutMs: 1_000,
      },
      quiet,
    );
    await waitUntilReady(redis, 2_000);
  });

  afterAll(async () => {
    await closeRedisClient(redis);
  });

  it('reports the block as the time to reset once the window ran out before it', async () => {
    const { storage } = newStorage(redis);
    const check = () => storage.increment('reset-while-blocked', 200, 1, 3_000, 'anonymous');
    await check();
    expect(await check()).toMatchObject({ isBlocked: true });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const blocked = await check();
    // The window (200 ms) is over; the block (3 s) is not.
    expect(blocked.isBlocked).toBe(true);
    expect(blocked.timeToBlockExpire).toBeGreaterThanOrEqual(1);
    expect(blocked.timeToExpire).toBe(blocked.timeToBlockExpire);
  });

  it('lifts a block once the limit is raised above the one it was set under, and keeps it when lowered', async () => {
    const { storage } = newStorage(redis);
    const check = (limit: number) => storage.increment('limit-raised', 30_000, limit, 30_000, 'anonymous');
    await check(2);
    await check(2);
    expect(await check(2)).toMatchObject({ isBlocked: true });
    // A lower limit (a restart with a smaller one) keeps the block.
    expect(await check(1)).toMatchObject({ isBlocked: true });
    // Three hits counted so far; under a limit of 5 the fourth and fifth pass, and the sixth is blocked again.
    expect(await check(5)).toMatchObject({ isBlocked: false, totalHits: 4 });
    expect(await check(5)).toMatchObject({ isBlocked: false, totalHits: 5 });
    expect(await check(5)).toMatchObject({ isBlocked: true });
  });

  it('reads what a check would find without counting: hits, window and a block that holds', async () => {
    const { storage } = newStorage(redis);
    const tiers = (limit: number) => [
      { key: 'peek-counted', ttl: 60_000, limit, throttlerName: 'search' },
      { key: 'peek-failures', ttl: 60_000, limit, throttlerName: 'credentials-global' },
      { key: 'peek-never-seen', ttl: 60_000, limit, throttlerName: 'anonymous' },
    ];
    for (let i = 0; i < 3; i += 1) await storage.increment('peek-counted', 60_000, 2, 120_000, 'search');
    await storage.increment('peek-failures', 60_000, 2, 60_000, 'credentials-global');

    const [counted, failures, neverSeen] = await storage.peek(tiers(2));
    expect(counted[0]).toBe(3);
    expect(counted[1]).toBeGreaterThan(50_000);
    expect(counted[1]).toBeLessThanOrEqual(60_000);
    expect(counted[2]).toBeGreaterThan(110_000);
    expect(failures).toEqual([1, expect.any(Number), 0]);
    expect(neverSeen).toEqual([0, 0, 0]);
    // A block set under a limit below the running one does not hold (CHECK counts the hit against the new limit).
    expect((await storage.peek(tiers(3)))[0][2]).toBe(0);
    // Nothing was counted nor created.
    expect(await storage.increment('peek-failures', 60_000, 2, 60_000, 'credentials-global')).toMatchObject({
      totalHits: 2,
      isBlocked: false,
    });
    expect(await redis.exists('throttle:peek-never-seen:hits', 'throttle:peek-never-seen:block')).toBe(0);
  });

  it('admits exactly the limit out of 1,000 concurrent checks and blocks the rest', async () => {
    const { storage, count } = newStorage(redis);
    const records = await Promise.all(
      Array.from({ length: 1_000 }, () => storage.increment('exact', 60_000, 100, 60_000, 'anonymous')),
    );
    expect(records.filter((r) => !r.isBlocked)).toHaveLength(100);
    expect(records.every((r) => !r.countedLocally)).toBe(true);
    expect(await count('rejected')).toBe(900);
  });

  it('reports the window and the block in seconds; past the block, the window still counts', async () => {
    const { storage } = newStorage(redis);
    const first = await storage.increment('window', 30_000, 1, 300, 'anonymous');
    expect(first).toMatchObject({ totalHits: 1, isBlocked: false, timeToExpire: 30 });
    const blocked = await storage.increment('window', 30_000, 1, 300, 'anonymous');
    expect(blocked).toMatchObject({ isBlocked: true, timeToBlockExpire: 1 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    // The block (300 ms) is over, the window (30 s) is not: the next hit is over the limit again.
    expect((await storage.increment('window', 30_000, 1, 300, 'anonymous')).isBlocked).toBe(true);
  });

  it('takes back a hit keeping the window, never below zero, and never brings back an expired key', async () => {
    const { storage } = newStorage(redis);
    await storage.increment('refund', 60_000, 5, 60_000, 'credentials-account');
    await storage.increment('refund', 60_000, 5, 60_000, 'credentials-account');
    const inRedis = (key: string) => ({ key, countedLocally: false });
    await storage.refund(['refund', 'refund', 'refund', 'refund-expired'].map(inRedis));
    expect(await redis.get('throttle:refund:hits')).toBe('0');
    expect(await redis.pttl('throttle:refund:hits')).toBeGreaterThan(59_000);
    expect(await redis.exists('throttle:refund-expired:hits')).toBe(0);
    expect(await storage.increment('refund', 60_000, 5, 60_000, 'credentials-account')).toMatchObject({ totalHits: 1 });
  });

  it('lifts a block once hits given back bring the count within the limit it was set under', async () => {
    // Three logins at once from one address with room for two: the third is refused and blocks the address. The two
    // others were refused by the password hashing bound before any check (a 503 with Retry-After: 5), and give their
    // hits back: only the refused one is left counted, so the retry the 503 asked for must pass.
    const { storage } = newStorage(redis);
    const attempt = () => storage.increment('unchecked', 60_000, 2, 60_000, 'credentials');
    const [first, second, third] = await Promise.all([attempt(), attempt(), attempt()]);
    expect([first.isBlocked, second.isBlocked, third.isBlocked]).toEqual([false, false, true]);
    await storage.refund([
      { key: 'unchecked', countedLocally: false },
      { key: 'unchecked', countedLocally: false },
    ]);
    expect(await attempt()).toMatchObject({ isBlocked: false, totalHits: 2 });
    // The limit holds as before: the next one over it blocks again.
    expect((await attempt()).isBlocked).toBe(true);
    // One refund that leaves the count over the limit lifts nothing.
    await storage.refund([{ key: 'unchecked', countedLocally: false }]);
    expect((await attempt()).isBlocked).toBe(true);
  });
});

describe('RedisThrottlerStorage when Redis stalls', () => {
  let server: RedisProcess;
  let redis: Redis;
  let admin: Redis;

  beforeAll(async () => {
    server = await RedisProcess.start();
    // The client's own timeout is only the backstop, as in production; the storage's 50 ms must bound the wait.
    redis = createRedisClient({ url: server.url, connectTimeoutMs: 1_000, commandTimeoutMs: 1_000 }, quiet);
    admin = new Redis(server.url);
    await waitUntilReady(redis, 2_000);
  });

  afterAll(async () => {
    await closeRedisClient(redis);
    admin.disconnect();
    await server.stop();
  });

  const pause = (ms: number) => admin.call('CLIENT', 'PAUSE', String(ms), 'ALL');
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('limits in memory within the command timeout, skips Redis while it stays silent, then counts there again', async () => {
    const { storage, count } = newStorage(redis, 50);
    const check = () => storage.increment('stall', 60_000, 1, 60_000, 'anonymous');
    expect((await check()).countedLocally).toBe(false);

    // A real stall: Redis accepts the commands and answers none of them for 1.5 s.
    await pause(1_500);
    let started = performance.now();
    expect(await check()).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 1 });
    expect(performance.now() - started).toBeLessThan(500);
    // Still silent 300 ms later: this check also waits out the timeout, and Redis counts as down from now on. The
    // limit of 1 holds in memory.
    await sleep(300);
    expect(await check()).toMatchObject({ countedLocally: true, isBlocked: true });
    started = performance.now();
    expect(await check()).toMatchObject({ countedLocally: true, isBlocked: true });
    // Skipped, not timed out: well under the 50 ms timeout (with room for a busy machine's pauses).
    expect(performance.now() - started).toBeLessThan(40);
    expect(await count('counted_locally')).toBe(3);
    expect(await count('rejected')).toBe(2);

    // Counting resumes in Redis once it answers: the key from before the stall is still over its limit of 1.
    let record = await check();
    for (const deadline = Date.now() + 3_000; record.countedLocally && Date.now() < deadline; record = await check()) {
      await sleep(50);
    }
    expect(record).toMatchObject({ countedLocally: false, isBlocked: true });
  });

  it('limits a burst that a stall caught in memory, then counts in Redis, where those checks still landed', async () => {
    const { storage } = newStorage(redis, 50);
    const check = () => storage.increment('blip', 60_000, 10, 60_000, 'anonymous');
    await pause(200);
    const burst = await Promise.all(Array.from({ length: 20 }, check));
    expect(burst.every((record) => record.countedLocally)).toBe(true);
    expect(burst.filter((record) => record.isBlocked)).toHaveLength(10);

    await sleep(250);
    // The next request is checked in Redis, where the burst's commands landed after the stall: the eleventh set the
    // block, which the other nine met uncounted.
    expect(await check()).toMatchObject({ countedLocally: false, totalHits: 11, isBlocked: true });
  });

  it('keeps a client Redis blocks refused through stalls, with other clients answered between them', async () => {
    const { storage } = newStorage(redis, 50);
    const check = (key: string) => storage.increment(key, 60_000, 2, 60_000, 'anonymous');
    await check('blocked');
    await check('blocked');
    expect(await check('blocked')).toMatchObject({ countedLocally: false, isBlocked: true });

    const passedInStalls: number[] = [];
    for (let stall = 0; stall < 3; stall += 1) {
      // A stall long enough for the checks sent at its start to give up after 50 ms: they are counted in memory.
      await pause(400);
      const burst = await Promise.all([check('blocked'), check('blocked')]);
      expect(burst.every((record) => record.countedLocally)).toBe(true);
      passedInStalls.push(burst.filter((record) => !record.isBlocked).length);
      await sleep(450);
      // Another client's request is answered by Redis between two stalls.
      let other = await check(`other-${stall}`);
      for (const deadline = Date.now() + 3_000; other.countedLocally && Date.now() < deadline;) {
        await sleep(50);
        other = await check(`other-${stall}`);
      }
      expect(other.countedLocally).toBe(false);
    }
    // Redis held the block the whole time: with its counts dropped at every answer, the client got its limit again in
    // memory in each stall, as many times as Redis stalled.
    expect(passedInStalls).toEqual([0, 0, 0]);
  });

  it('limits in memory while Redis is stopped, gives refunds back there, and counts in Redis once it is back', async () => {
    const { storage, count } = newStorage(redis, 50);
    const check = () => storage.increment('stopped', 60_000, 2, 60_000, 'anonymous');
    const failedLogin = () => storage.increment('stopped-account', 60_000, 2, 60_000, 'credentials-account');
    await server.stop();
    try {
      expect(await check()).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 1 });
      expect(await check()).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 2 });
      expect(await check()).toMatchObject({ countedLocally: true, isBlocked: true });

      // The failed-login tiers: refused at the limit until a refund (a login that did not fail) makes room.
      const hit = await failedLogin();
      expect(await failedLogin()).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 2 });
      expect(await failedLogin()).toMatchObject({ countedLocally: true, isBlocked: true });
      await storage.refund([{ key: 'stopped-account', countedLocally: hit.countedLocally }]);
      expect(await failedLogin()).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 2 });
      expect(await count('counted_locally')).toBe(7);
    } finally {
      await server.start();
    }

    // Once Redis answers, its counts hold (the restarted Redis has none) and the ones held in memory are dropped.
    let record = await check();
    for (const deadline = Date.now() + 10_000; record.countedLocally && Date.now() < deadline; record = await check()) {
      await sleep(100);
    }
    expect(record).toMatchObject({ countedLocally: false, isBlocked: false, totalHits: 1 });
  });
});
