import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { LockUnavailableException, withRedisLock } from './redis-lock.js';

/**
 * The commands the lock uses (SET, and the release and renewal scripts), over an in-memory map (the real-Redis
 * behaviour, renewals included, is covered by test/integration/redis-lock.int-spec.ts).
 * `unreachable`: SET fails and never lands; `late`: SET lands, but its reply comes after the command timeout, and
 * commands sent after it run after it, as on one Redis connection.
 */
function fakeRedis(setFailure?: 'unreachable' | 'late') {
  const keys = new Map<string, string>();
  const redis = {
    set: vi.fn((key: string, value: string) => {
      if (setFailure === 'late') keys.set(key, value);
      if (setFailure) return Promise.reject(new Error('Command timed out'));
      if (keys.has(key)) return Promise.resolve(null);
      keys.set(key, value);
      return Promise.resolve('OK');
    }),
    eval: vi.fn((script: string, _count: number, key: string, token: string) => {
      const held = keys.get(key) === token;
      if (held && script.includes("'DEL'")) keys.delete(key);
      return Promise.resolve(held ? 1 : 0);
    }),
  };
  return { redis: redis as unknown as Redis, keys };
}

describe('withRedisLock', () => {
  it('runs one holder at a time and frees the key after the work, even when it throws', async () => {
    const { redis, keys } = fakeRedis();
    let release!: () => void;
    const first = withRedisLock(
      redis,
      'k',
      1_000,
      () => new Promise<string>((resolve) => (release = () => resolve('done'))),
    );
    await vi.waitFor(() => expect(keys.has('k')).toBe(true));
    expect(await withRedisLock(redis, 'k', 1_000, () => Promise.resolve('second'))).toEqual({ acquired: false });
    release();
    expect(await first).toEqual({ acquired: true, value: 'done' });
    expect(keys.has('k')).toBe(false);
    await expect(withRedisLock(redis, 'k', 1_000, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(keys.has('k')).toBe(false);
  });

  it('refuses to run the work when Redis cannot say whether the lock is free', async () => {
    const { redis } = fakeRedis('unreachable');
    const work = vi.fn(() => Promise.resolve('ran'));
    await expect(withRedisLock(redis, 'k', 1_000, work)).rejects.toBeInstanceOf(LockUnavailableException);
    expect(work).not.toHaveBeenCalled();
  });

  it('frees a lock whose SET timed out but landed, so the next change is not locked out for the whole TTL', async () => {
    const { redis, keys } = fakeRedis('late');
    await expect(withRedisLock(redis, 'k', 30_000, () => Promise.resolve('ran'))).rejects.toBeInstanceOf(
      LockUnavailableException,
    );
    await vi.waitFor(() => expect(keys.has('k')).toBe(false));
  });

  it('throws Redis not answering, not lock held, when the SET after dropping a key with no expiry fails', async () => {
    const set = vi.fn().mockResolvedValueOnce(null).mockRejectedValueOnce(new Error('Connection is closed.'));
    const redis = { set, eval: vi.fn().mockResolvedValue(1) } as unknown as Redis;
    const work = vi.fn(() => Promise.resolve('ran'));
    await expect(withRedisLock(redis, 'k', 1_000, work)).rejects.toBeInstanceOf(LockUnavailableException);
    expect(set).toHaveBeenCalledTimes(2);
    expect(work).not.toHaveBeenCalled();
  });

  it('logs a Redis outage once as it starts and once as it ends, not once per refused change', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const log = vi.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    try {
      const set = vi.fn().mockRejectedValue(new Error("Stream isn't writeable"));
      const redis = { set, eval: vi.fn().mockResolvedValue(0) } as unknown as Redis;
      for (let member = 0; member < 5; member++) {
        await expect(withRedisLock(redis, `m${member}`, 1_000, () => Promise.resolve())).rejects.toBeInstanceOf(
          LockUnavailableException,
        );
      }
      expect(warn.mock.calls.filter(([message]) => String(message).includes('unavailable'))).toHaveLength(1);
      set.mockResolvedValue('OK');
      expect(await withRedisLock(redis, 'm0', 1_000, () => Promise.resolve('ran'))).toEqual({
        acquired: true,
        value: 'ran',
      });
      expect(await withRedisLock(redis, 'm1', 1_000, () => Promise.resolve('ran'))).toMatchObject({ acquired: true });
      expect(log.mock.calls.filter(([message]) => String(message).includes('available again'))).toHaveLength(1);
      // The next outage is told again.
      set.mockRejectedValue(new Error('Connection is closed.'));
      await expect(withRedisLock(redis, 'm2', 1_000, () => Promise.resolve())).rejects.toThrow();
      expect(warn.mock.calls.filter(([message]) => String(message).includes('unavailable'))).toHaveLength(2);
    } finally {
      warn.mockRestore();
      log.mockRestore();
    }
  });
});
