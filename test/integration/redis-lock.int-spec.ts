import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../../src/redis/redis-client.factory.js';
import { withRedisLock } from '../../src/redis/redis-lock.js';
import { replicatedRedis } from '../support/redis-failover.js';
import { requiredEnv } from '../support/test-env.js';

const silentLogger = { log: () => undefined, warn: () => undefined } as never;
const TTL_MS = 300;

describe('withRedisLock against the real Redis', () => {
  let redis: Redis;
  const key = (name: string) => `vesta:test:lock:${process.pid}:${Date.now()}:${name}`;

  beforeAll(async () => {
    redis = createRedisClient(
      { url: requiredEnv('REDIS_URL'), connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 },
      silentLogger,
    );
    expect(await waitUntilReady(redis, 2_000)).toBe(true);
  });

  afterAll(async () => {
    await closeRedisClient(redis);
  });

  it('keeps the lock while work outlasts its expiry, then frees it', async () => {
    const lock = key('slow');
    const slow = withRedisLock(redis, lock, TTL_MS, () => sleep(4 * TTL_MS).then(() => 'done'));
    await sleep(2 * TTL_MS);
    // Without renewal the first holder's lock would have expired by now and this one would run beside it.
    expect(await withRedisLock(redis, lock, TTL_MS, () => Promise.resolve('second'))).toEqual({ acquired: false });
    expect(await redis.pttl(lock)).toBeLessThanOrEqual(TTL_MS);
    expect(await slow).toEqual({ acquired: true, value: 'done' });
    expect(await redis.exists(lock)).toBe(0);
    expect(await withRedisLock(redis, lock, TTL_MS, () => Promise.resolve('third'))).toEqual({
      acquired: true,
      value: 'third',
    });
  });

  it('does not revive a lock that another holder took after it expired', async () => {
    const lock = key('lost');
    const slow = withRedisLock(redis, lock, TTL_MS, () => sleep(3 * TTL_MS));
    await sleep(TTL_MS / 6);
    // As if the lock had expired and another instance had taken it.
    await redis.set(lock, 'someone else', 'PX', 10 * TTL_MS);
    await slow;
    expect(await redis.get(lock)).toBe('someone else');
    // Still the other holder's expiry (10 × TTL_MS less the ~3 × TTL_MS since), not one renewed to TTL_MS.
    expect(await redis.pttl(lock)).toBeGreaterThan(5 * TTL_MS);
    await redis.del(lock);
  });

  /**
   * Until 2026-12-06 a lock held through a failover stayed taken for its whole expiry (a member's subscription changes
   * were refused for 30 s): the release, or a write of the work before it, was refused by the demoted node (READONLY),
   * and the release, sent while the connection was being replaced, failed.
   */
  it.each([
    ['its release', false],
    ['a write of its work', true],
  ])('frees a lock held through a failover, %s the first command the demoted node refused', async (_, workWrites) => {
    const replicated = await replicatedRedis();
    const logger = { log: vi.fn(), warn: vi.fn<(line: string) => void>() };
    const client = createRedisClient(
      { url: replicated.url, connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 },
      logger as never,
    );
    try {
      expect(await waitUntilReady(client, 2_000)).toBe(true);
      const lock = key('failover');
      const ttlMs = 30_000;
      const held = await withRedisLock(client, lock, ttlMs, async () => {
        await replicated.failOver();
        // The work's last write (UnsettledCharges.forget, say), refused by the demoted node.
        if (workWrites) await expect(client.hdel(key('work'), 'field')).rejects.toThrow(/^READONLY/);
      });
      expect(held).toEqual({ acquired: true, value: undefined });
      // Not the lock's 30 s: the next holder gets it within a few seconds.
      const next = () => withRedisLock(client, lock, ttlMs, () => Promise.resolve('next')).catch(() => undefined);
      await vi.waitFor(async () => expect(await next()).toEqual({ acquired: true, value: 'next' }), {
        timeout: 5_000,
        interval: 200,
      });
      // The reconnect is logged, once: it emits no 'error' that would say so.
      const refusals = logger.warn.mock.calls.filter(([line]) => /refused a write as a replica \(READONLY/.test(line));
      expect(refusals).toHaveLength(1);
    } finally {
      await closeRedisClient(client);
      await replicated.stop();
    }
  });
});
