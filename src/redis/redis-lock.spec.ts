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
});
