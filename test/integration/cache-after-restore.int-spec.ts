import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clearCacheAfterRestore } from '../../src/backup/cache-after-restore.js';
import { heldLoader, Instance, quiet } from '../support/cache-instance.js';
import { requiredEnv } from '../support/test-env.js';

/**
 * A load that read the database before a restore and stores its value while the restore clears the cache: the
 * clearing must not leave it in Redis, where every instance would serve the data the restore replaced.
 */
describe('the cache after a restore', () => {
  const closing: (() => Promise<unknown> | void)[] = [];

  afterEach(async () => {
    vi.restoreAllMocks();
    for (const close of closing.splice(0).reverse()) await close();
  });

  it('keeps no value loaded before the restore that is stored while the cache is being cleared', async () => {
    const REDIS_URL = requiredEnv('REDIS_URL');
    const namespace = `restore-${randomUUID().slice(0, 8)}:`;
    const admin = new Redis(REDIS_URL, { keyPrefix: namespace });
    closing.push(() => admin.quit());
    const loader = await Instance.create(REDIS_URL, namespace);
    closing.push(() => loader.close());
    let value = 'before';
    const read = (instance: Instance) =>
      instance.cache.wrap('profiles', 'p1', () => Promise.resolve(value), { ttlS: 300 });
    await loader.cache.wrap('profiles', 'other', () => Promise.resolve('x'), { ttlS: 300 }); // something to clear

    // The load reads the database before the restore, and stores once the clearing has begun.
    const held = heldLoader(() => value);
    const loading = loader.cache.wrap('profiles', 'p1', held.load, { ttlS: 300 });
    await held.started;
    value = 'after'; // the restore

    // The clearing's own client is a Redis like any other: its first UNLINK (its first step) is followed by the load's
    // end, and the clearing goes on once the load has answered, its store made or refused.
    const unlink = Redis.prototype.unlink;
    let loadEnded = false;
    vi.spyOn(Redis.prototype, 'unlink').mockImplementation(async function (this: Redis, ...args: unknown[]) {
      const result = await (unlink as (...a: unknown[]) => Promise<number>).apply(this, args);
      if (!loadEnded) {
        loadEnded = true;
        held.release();
        expect(await loading).toBe('before');
      }
      return result;
    });
    const redis = { url: REDIS_URL, connectTimeoutMs: 500, commandTimeoutMs: 1_000, keyPrefix: namespace };
    expect((await clearCacheAfterRestore(redis, quiet)).cleared).toBe(true);
    vi.restoreAllMocks();

    const fresh = await Instance.create(REDIS_URL, namespace);
    closing.push(() => fresh.close());
    expect(await admin.get('cache:profiles:p1')).toBeNull();
    expect(await read(fresh)).toBe('after');
  });
});
