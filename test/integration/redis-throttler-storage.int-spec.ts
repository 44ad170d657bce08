import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../../src/redis/redis-client.factory.js';
import { RedisThrottlerStorage } from '../../src/throttling/redis-throttler.storage.js';
import { RedisProcess } from '../support/redis-process.js';
import { requiredEnv } from '../support/test-env.js';

const quiet = { log: () => undefined, warn: () => undefined } as never;

/** Checks give up after `timeoutMs` (THROTTLE_REDIS_TIMEOUT_MS); exactness tests allow Redis a second. */
function newStorage(redis: Redis, timeoutMs = 1_000) {
  const registry = new Registry();
  const metrics = {
    rejected: new Counter({ name: 'rejected', help: 'x', labelNames: ['throttler'], registers: [registry] }),
    failedOpen: new Counter({ name: 'failed_open', help: 'x', registers: [registry] }),
  };
  const count = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
  return { storage: new RedisThrottlerStorage(redis, metrics, timeoutMs), count };
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

  it('admits exactly the limit out of 1,000 concurrent checks and blocks the rest', async () => {
    const { storage, count } = newStorage(redis);
    const records = await Promise.all(
      Array.from({ length: 1_000 }, () => storage.increment('exact', 60_000, 100, 60_000, 'anonymous')),
    );
    expect(records.filter((r) => !r.isBlocked)).toHaveLength(100);
    expect(records.every((r) => !r.failedOpen)).toBe(true);
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

  it('lets requests through within the command timeout, skips Redis for a moment, then counts again', async () => {
    const { storage, count } = newStorage(redis, 50);
    expect((await storage.increment('stall', 60_000, 1, 60_000, 'anonymous')).failedOpen).toBe(false);

    // A real stall: Redis accepts the commands and answers none of them for 1.5 s.
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    let started = performance.now();
    const during = await storage.increment('stall', 60_000, 1, 60_000, 'anonymous');
    expect(during).toMatchObject({ failedOpen: true, isBlocked: false });
    expect(performance.now() - started).toBeLessThan(500);
    started = performance.now();
    expect((await storage.increment('stall', 60_000, 1, 60_000, 'anonymous')).failedOpen).toBe(true);
    expect(performance.now() - started).toBeLessThan(20);
    expect(await count('failed_open')).toBe(2);

    await new Promise((resolve) => setTimeout(resolve, 1_600));
    // Counting resumed: the key from before the stall is still over its limit of 1.
    expect(await storage.increment('stall', 60_000, 1, 60_000, 'anonymous')).toMatchObject({
      failedOpen: false,
      isBlocked: true,
    });
  });
});
