import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, Instance } from '../support/cache-instance.js';
import { replicatedRedis } from '../support/redis-failover.js';
import { requiredEnv } from '../support/test-env.js';

describe('TieredCache and what Redis keeps or answers: a failover, a foreign key, expired tag members', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('serves no old value on any instance when a failover left the connections on the old primary (READONLY)', async () => {
    const redis = await replicatedRedis();
    cleanup.push(() => redis.stop());
    const namespace = 'failover:';
    const [writer, reader] = [await Instance.create(redis.url, namespace), await Instance.create(redis.url, namespace)];
    cleanup.push(
      () => writer.close(),
      () => reader.close(),
    );
    let value = 'before';
    const read = (instance: Instance) =>
      instance.cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 });
    expect(await read(writer)).toBe('before');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await read(reader)).toBe('before');

    // Redis keeps the clients' connections to the old primary open.
    await redis.failOver();

    value = 'after';
    await writer.cache.invalidate('profile', ['p']);
    // A write the API answered: within a few seconds every instance must show it, not for the entry's 300 s TTL.
    const seen: string[] = [];
    await eventually(async () => {
      const both = [await read(reader), await read(writer)];
      seen.push(both.join('/'));
      return both.every((v) => v === 'after');
    }, 5_000).catch((error: Error) => {
      throw new Error(`${error.message}; last reads (reader/writer): ${[...new Set(seen)].join(', ')}`);
    });
  });

  it('keeps using a tag, and serves no old value under it, when its Redis key held something other than a set', async () => {
    const admin = new Redis(requiredEnv('REDIS_URL'));
    cleanup.push(() => admin.disconnect());
    const namespace = `wrongtype-${randomUUID()}:`;
    const [writer, reader] = [
      await Instance.create(requiredEnv('REDIS_URL'), namespace),
      await Instance.create(requiredEnv('REDIS_URL'), namespace),
    ];
    cleanup.push(
      () => writer.close(),
      () => reader.close(),
    );
    cleanup.push(() => admin.del(`${namespace}cache-tag:pages`, `${namespace}cache:profile:page-1`));
    // Left by something else under this namespace (an older layout, a hand-made key): a string, not a set.
    await admin.set(`${namespace}cache-tag:pages`, 'garbage', 'PX', 60_000);
    let value = 'before';
    const read = (instance: Instance, key: string) =>
      instance.cache.wrap('profile', key, () => Promise.resolve(value), { ttlS: 300, tags: ['pages'] });
    expect(await read(writer, 'page-1')).toBe('before');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await read(reader, 'page-1')).toBe('before');

    value = 'after';
    await writer.cache.invalidate('profile', [], ['pages']);
    await eventually(async () => (await read(reader, 'page-1')) === 'after', 5_000);
    expect(await read(writer, 'page-1')).toBe('after');
  });

  it("keeps a tag's set in Redis about as large as its live entries, however many have expired under it", async () => {
    // LIST_TAG is on every search and nearby page and dropped only after a failed write: its set lived on while pages
    // were stored (PEXPIRE GT), and kept a member for every page ever stored under it, each distinct filter and cursor.
    const admin = new Redis(requiredEnv('REDIS_URL'));
    cleanup.push(() => admin.disconnect());
    const namespace = `tag-growth-${randomUUID()}:`;
    const writer = await Instance.create(requiredEnv('REDIS_URL'), namespace);
    cleanup.push(() => writer.close());
    const options = { ttlS: 0.1, tags: ['pages'] };
    // Pages stored steadily, each living 100 ms: a few dozen live at any time, 600 stored in all.
    for (let page = 0; page < 600; page++) {
      await writer.cache.wrap('pages', `page-${page}`, () => Promise.resolve(page), options);
      if (page % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const live = (await admin.keys(`${namespace}cache:pages:*`)).length;
    expect(live).toBeLessThan(200);
    expect(await admin.scard(`${namespace}cache-tag:pages`)).toBeLessThan(live + 60);
    // And its invalidation still drops the live ones.
    await writer.cache.invalidate('pages', [], ['pages']);
    expect(await admin.keys(`${namespace}cache:pages:*`)).toEqual([]);
  });
});
