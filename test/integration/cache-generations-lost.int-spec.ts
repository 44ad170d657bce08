import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { L2_SENT_AT_ONCE } from '../../src/cache/l2-store.js';
import { createRedisClient, waitUntilReady } from '../../src/redis/redis-client.factory.js';
import { eventually, heldLoader, Instance, quiet } from '../support/cache-instance.js';
import { RedisProcess } from '../support/redis-process.js';
import { tcpRelay } from '../support/tcp-stand-ins.js';

/**
 * Redis loses the generation a write gave its key or tag (FLUSHALL, FLUSHDB, a restore), between the write and the
 * store of a load on another instance that read the database before the write and has not heard of it yet (its
 * invalidation message is on its way). Redis is this test's own: it is flushed.
 */
describe('invalidations when Redis loses what a write left in it', () => {
  let server: RedisProcess;
  let admin: Redis;
  const closing: (() => Promise<unknown> | void)[] = [];

  beforeEach(async () => {
    server = await RedisProcess.start();
    admin = new Redis(server.url);
  });

  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
    admin.disconnect();
    await server.stop();
  });

  /** An instance whose invalidation messages are held back while `late.held` (a busy or distant instance). */
  const lateListener = async (namespace: string) => {
    const late = { held: false, queued: [] as (() => void)[] };
    const relay = await tcpRelay(new URL(server.url), (client, upstream) => {
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => {
        if (late.held) late.queued.push(() => client.write(chunk));
        else client.write(chunk);
      });
    });
    const options = { connectTimeoutMs: 500, commandTimeoutMs: 1_000 };
    const redis = createRedisClient(
      { ...options, url: server.url, keyPrefix: namespace, sentAtOnce: L2_SENT_AT_ONCE },
      quiet,
    );
    const subscriber = createRedisClient({ ...options, url: `redis://127.0.0.1:${relay.port}` }, quiet, true);
    await Promise.all([waitUntilReady(redis, 2_000), waitUntilReady(subscriber, 2_000)]);
    const instance = new Instance(redis, subscriber, namespace);
    await instance.cache.start();
    closing.push(relay.close, () => instance.close());
    const deliver = () => {
      late.held = false;
      late.queued.splice(0).forEach((write) => write());
    };
    return { instance, late, deliver };
  };

  for (const [what, keys, tags] of [
    ['key', ['page'], []],
    ['tag', [], ['city:paris']],
  ] as const) {
    it(`serves no value loaded before a write once the write's ${what} generation is lost`, async () => {
      const namespace = `lost-gen-${randomUUID().slice(0, 8)}:`;
      const writer = await Instance.create(server.url, namespace);
      closing.push(() => writer.close());
      const { instance: loader, late, deliver } = await lateListener(namespace);
      let value = 'before';
      const options = { ttlS: 300, tags: ['city:paris'] };
      const read = (instance: Instance) => instance.cache.wrap('list', 'page', () => Promise.resolve(value), options);

      // The loader's instance reads the database before the write, and ends its load after it.
      const held = heldLoader(() => value);
      const loading = loader.cache.wrap('list', 'page', held.load, options);
      await held.started;

      late.held = true;
      value = 'after';
      await writer.cache.invalidate('list', [...keys], [...tags]);
      await admin.flushall(); // the write's new generation goes with everything else
      held.release();
      expect(await loading).toBe('before'); // its readers began before the write
      deliver();
      // The message empties the loader's L1, and then neither instance finds the old value in Redis. Promised within
      // 100 ms; 300 here leaves room on a busy machine, and is still before the write's second pass (500 ms), which
      // would drop the old value from Redis and hide the defect.
      await eventually(async () => (await read(loader)) === 'after', 300);
      expect(await read(writer)).toBe('after');
    });
  }

  it('counts a full Redis refusing the epoch as a refused write, as it counts a refused store', async () => {
    const instance = await Instance.create(server.url, `full-${randomUUID().slice(0, 8)}:`);
    closing.push(() => instance.close());
    // Full before any load made the epoch (this version's first start on a full Redis, or a restore's clearing).
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', String(used + 1_000_000));
    await expect(async () => {
      for (let i = 0; ; i += 1) await admin.set(`queue-data:${i}`, 'x'.repeat(10_000));
    }).rejects.toThrow(/OOM/);

    expect(await instance.cache.wrap('profile', 'p1', () => Promise.resolve('v'), { ttlS: 60 })).toBe('v');
    const errors = async (operation: string) => instance.metric('cache_l2_errors_total', { operation });
    expect({ get: await errors('get'), set: await errors('set') }).toEqual({ get: 0, set: 1 });
  });
});
