import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, Instance } from '../support/cache-instance.js';
import { freePort } from '../support/ports.js';
import { RedisProcess } from '../support/redis-process.js';
import { requiredEnv } from '../support/test-env.js';

/**
 * A stable address in front of whichever Redis is primary, as a managed Redis' endpoint name is: connections made after
 * `pointTo` reach the new server, connections made before stay with the old one (which a failover turned into a
 * replica, answering READONLY to writes).
 */
async function endpoint(initialPort: number) {
  let target = initialPort;
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.push(client, upstream);
    client.pipe(upstream).pipe(client);
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ]) {
      socket.on('error', () => undefined).on('close', () => other.destroy());
    }
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${port}`,
    pointTo: (next: number) => (target = next),
    close: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function linkUp(replica: Redis): Promise<boolean> {
  return /master_link_status:up/.test(await replica.info('replication'));
}

describe('TieredCache and what Redis answers after a failover', () => {
  const cleanup: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('serves no old value on any instance when a failover left the connections on the old primary (READONLY)', async () => {
    const [first, second] = [await RedisProcess.start(), await RedisProcess.start()];
    cleanup.push(
      () => first.stop(),
      () => second.stop(),
    );
    const [adminFirst, adminSecond] = [new Redis(first.url), new Redis(second.url)];
    cleanup.push(
      () => adminFirst.disconnect(),
      () => adminSecond.disconnect(),
    );
    await adminSecond.replicaof('127.0.0.1', first.port);
    await eventually(() => linkUp(adminSecond), 5_000);
    const proxy = await endpoint(first.port);
    cleanup.push(() => proxy.close());

    const namespace = 'failover:';
    const [writer, reader] = [await Instance.create(proxy.url, namespace), await Instance.create(proxy.url, namespace)];
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

    // The failover: the replica is promoted, the old primary follows it, the endpoint names the new primary. Redis
    // keeps the clients' connections to the old one open.
    await adminSecond.replicaof('NO', 'ONE');
    await adminFirst.replicaof('127.0.0.1', second.port);
    await eventually(() => linkUp(adminFirst), 5_000);
    proxy.pointTo(second.port);

    value = 'after';
    await writer.cache.invalidate('profile', ['p']);
    // A write the API answered: within a few seconds every instance must show it, not for the entry's 300 s TTL.
    const seen: string[] = [];
    const took = await eventually(async () => {
      const both = [await read(reader), await read(writer)];
      seen.push(both.join('/'));
      return both.every((v) => v === 'after');
    }, 5_000).catch((error: Error) => {
      throw new Error(`${error.message}; last reads (reader/writer): ${[...new Set(seen)].join(', ')}`);
    });
    expect(took).toBeLessThan(2_000);
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
    await eventually(async () => (await read(reader, 'page-1')) === 'after', 2_000);
    expect(await read(writer, 'page-1')).toBe('after');
    await admin.del(`${namespace}cache-tag:pages`, `${namespace}cache:profile:page-1`);
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
