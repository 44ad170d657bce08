import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { LockUnavailableException, withRedisLock } from './redis-lock.js';

/** The two commands the lock uses, over an in-memory map (the real-Redis behaviour is covered by the e2e tests). */
function fakeRedis(failSet = false) {
  const keys = new Map<string, string>();
  const redis = {
    set: vi.fn((key: string, value: string) => {
      if (failSet) return Promise.reject(new Error('Command timed out'));
      if (keys.has(key)) return Promise.resolve(null);
      keys.set(key, value);
      return Promise.resolve('OK');
    }),
    eval: vi.fn((_script: string, _count: number, key: string, token: string) => {
      if (keys.get(key) === token) keys.delete(key);
      return Promise.resolve(1);
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
    const { redis } = fakeRedis(true);
    const work = vi.fn(() => Promise.resolve('ran'));
    await expect(withRedisLock(redis, 'k', 1_000, work)).rejects.toBeInstanceOf(LockUnavailableException);
    expect(work).not.toHaveBeenCalled();
  });
});
