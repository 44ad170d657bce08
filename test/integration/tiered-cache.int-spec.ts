import { Redis } from 'ioredis';
import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CacheMetrics } from '../../src/cache/cache-metrics.js';
import { SECOND_INVALIDATION_MS, TieredCache, type TieredCacheOptions } from '../../src/cache/tiered-cache.js';
import { closeRedisClient, createRedisClient } from '../../src/redis/redis-client.factory.js';
import { eventually, heldLoader, Instance, metricValue, neverCalled, quiet } from '../support/cache-instance.js';
import { RedisProcess } from '../support/redis-process.js';
import { silentServer, tcpRelay } from '../support/tcp-stand-ins.js';
import { requiredEnv } from '../support/test-env.js';

/**
 * A TCP proxy to the test Redis. `forward` sees every chunk, with the number of the client connection (from 1) and
 * its direction, and withholds it by returning false; `cut(n)` closes connection n.
 */
async function redisProxy(forward: (link: number, direction: 'to-redis' | 'to-client', chunk: Buffer) => boolean) {
  const clients: Socket[] = [];
  const relay = await tcpRelay(new URL(requiredEnv('REDIS_URL')), (client, upstream) => {
    const link = clients.push(client);
    client.on('data', (chunk: Buffer) => forward(link, 'to-redis', chunk) && upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => forward(link, 'to-client', chunk) && client.write(chunk));
  });
  return {
    url: `redis://127.0.0.1:${relay.port}`,
    links: () => clients.length,
    cut: (link: number) => clients[link - 1].destroy(),
    close: relay.close,
  };
}

/**
 * One instance's network path to the test Redis: `down()` cuts its connections and leaves new ones unanswered, `up()`
 * lets them through again. Redis itself stays up and keeps its data, as behind a network outage or a failover.
 */
async function interruptibleLink() {
  let down = false;
  const proxy = await redisProxy(() => !down);
  return {
    url: proxy.url,
    down: () => {
      down = true;
      for (let link = 1; link <= proxy.links(); link++) proxy.cut(link);
    },
    up: () => (down = false),
    close: proxy.close,
  };
}

/** A cache whose invalidation connection goes through `url` (a proxy); its commands go straight to Redis. */
function proxiedSubscriber(url: string, namespace: string, channelCheckMs?: number, l2TimeoutMs = 50) {
  const options = { connectTimeoutMs: 500, commandTimeoutMs: 500 };
  const redis = createRedisClient({ ...options, url: requiredEnv('REDIS_URL'), keyPrefix: namespace }, quiet);
  const subscriber = createRedisClient({ ...options, url }, quiet, true);
  const registry = new Registry();
  const cache = new TieredCache(redis, subscriber, new CacheMetrics(registry), {
    l1Enabled: true,
    l1MaxBytes: 1024 * 1024,
    ttlJitter: 0,
    l2TimeoutMs,
    channel: `${namespace}cache:invalidate`,
    channelCheckMs,
  });
  closeAfterTest.push(redis, subscriber);
  const metric = (name: string, labels: Record<string, string> = {}) => metricValue(registry, name, labels);
  return { cache, redis, subscriber, metric };
}
const closeAfterTest: Redis[] = [];

describe('TieredCache against the real Redis', () => {
  const instances: Instance[] = [];
  let namespace: string;

  const instance = async (options: Partial<TieredCacheOptions> = {}) => {
    const created = await Instance.create(requiredEnv('REDIS_URL'), namespace, options);
    instances.push(created);
    return created;
  };

  beforeAll(() => {
    namespace = `vesta-cache-test-${randomUUID().slice(0, 8)}:`;
  });

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.close()));
  });

  it('calls the loader once for 500 concurrent misses on one key (single flight)', async () => {
    const { cache } = await instance();
    let calls = 0;
    const loader = async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { name: 'Ann' };
    };
    const results = await Promise.all(
      Array.from({ length: 500 }, () => cache.wrap('profile', 'cold', loader, { ttlS: 60 })),
    );
    expect(calls).toBe(1);
    expect(results.every((r) => r.name === 'Ann')).toBe(true);
  });

  it('runs the loader again for a call made as soon as the one before failed, as read or warm run', async () => {
    const { cache } = await instance();
    let calls = 0;
    const load = (fails: boolean) => () => {
      calls += 1;
      return fails ? Promise.reject(new Error('database unavailable')) : Promise.resolve('loaded');
    };
    const retried: string[] = [];
    // Retried in the catch, as soon as the failure is heard: the failed flight must not answer again.
    try {
      await cache.wrap('retry', 'read', load(true), { ttlS: 60 });
    } catch {
      retried.push(await cache.wrap('retry', 'read', load(false), { ttlS: 60 }));
    }
    try {
      await cache.refresh('retry', 'warm', load(true), { ttlS: 60 });
    } catch {
      retried.push(await cache.refresh('retry', 'warm', load(false), { ttlS: 60 }));
    }
    expect(retried).toEqual(['loaded', 'loaded']);
    expect(calls).toBe(4);
  });

  it('shares but does not keep a value storeIf refuses, keeps the next one it accepts, and drops it when refused again', async () => {
    const [a, b] = [await instance(), await instance()];
    let found: string | null = null;
    let calls = 0;
    const loader = async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return found;
    };
    const options = { ttlS: 60, storeIf: (value: string | null) => value !== null };
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, () => a.cache.wrap('variant', 'x', loader, options)),
    );
    expect(concurrent.every((value) => value === null)).toBe(true);
    expect(calls).toBe(1);
    found = 'made';
    expect(await a.cache.wrap('variant', 'x', loader, options)).toBe('made');
    expect(calls).toBe(2);
    expect(await a.cache.wrap('variant', 'x', loader, options)).toBe('made');
    expect(await b.cache.wrap('variant', 'x', neverCalled, options)).toBe('made'); // kept in Redis too
    expect(calls).toBe(2);

    // A refresh that finds it gone drops what was kept, in this instance's memory and in Redis.
    expect(await a.cache.refresh('variant', 'x', () => Promise.resolve(null), options)).toBeNull();
    const c = await instance();
    expect(await c.cache.wrap('variant', 'x', () => Promise.resolve('remade'), options)).toBe('remade');
    expect(await a.cache.wrap('variant', 'x', neverCalled, options)).toBe('remade'); // its old copy is gone
  });

  it('writes nothing to Redis for a refused value that replaces nothing, and queues nothing while Redis is away', async () => {
    const a = await instance();
    const absent = { ttlS: 60, storeIf: (value: string | null) => value !== null };
    expect(await a.cache.wrap('variant', 'never-made', () => Promise.resolve(null), absent)).toBeNull();
    // Neither the entry nor a deletion's generation: nothing at all under the key.
    expect(await a.redis.exists('cache:variant:never-made', 'cache-gen:cache:variant:never-made')).toBe(0);
    expect(a.cache.peek('variant', 'never-made')).toBeUndefined(); // nor kept in memory

    const away = await Instance.create('redis://127.0.0.1:1', namespace); // nothing listens there
    instances.push(away);
    for (let id = 0; id < 20; id += 1) {
      expect(await away.cache.wrap('variant', `absent-${id}`, () => Promise.resolve(null), absent)).toBeNull();
    }
    // No deletion was tried, so none failed and none waits to be replayed.
    expect(await away.metric('cache_l2_errors_total', { operation: 'delete' })).toBe(0);
  });

  it('serves a value loaded by one instance from Redis to another, then from its own memory', async () => {
    const [a, b] = [await instance(), await instance()];
    await a.cache.wrap('profile', 'shared', () => Promise.resolve('v1'), { ttlS: 60 });
    await new Promise((resolve) => setTimeout(resolve, 20)); // the L2 write is asynchronous
    expect(await b.cache.wrap('profile', 'shared', neverCalled, { ttlS: 60 })).toBe('v1');
    expect(await b.cache.wrap('profile', 'shared', neverCalled, { ttlS: 60 })).toBe('v1');
    expect(await b.metric('cache_hits_total', { tier: 'l2' })).toBe(1);
    expect(await b.metric('cache_hits_total', { tier: 'l1' })).toBe(1);
    // b's first read missed its L1 and found Redis; a's missed both tiers and ran the loader.
    expect(await b.metric('cache_misses_total', { tier: 'l1' })).toBe(1);
    expect(await b.metric('cache_misses_total', { tier: 'l2' })).toBe(0);
    expect(await a.metric('cache_misses_total', { tier: 'l1' })).toBe(1);
    expect(await a.metric('cache_misses_total', { tier: 'l2' })).toBe(1);
  });

  it('spreads the expiry of entries written together over the TTL plus its jitter', async () => {
    const { cache, redis } = await instance({ ttlJitter: 0.5 });
    const keys = Array.from({ length: 20 }, (_, i) => `jitter-${i}`);
    await Promise.all(keys.map((key) => cache.wrap('jittered', key, () => Promise.resolve(key), { ttlS: 60 })));
    const kept = await Promise.all(keys.map((key) => redis.pttl(`cache:jittered:${key}`)));
    for (const ms of kept) {
      expect(ms).toBeGreaterThan(59_000);
      expect(ms).toBeLessThanOrEqual(90_000);
    }
    // Twenty draws of up to 30 s: the chance that they all land within one second of each other is negligible.
    expect(Math.max(...kept) - Math.min(...kept)).toBeGreaterThan(1_000);
  });

  it('reports the size of its L1 and the entries it evicted to stay within its bound', async () => {
    const small = await instance({ l1MaxBytes: 2_048 });
    const value = 'v'.repeat(400);
    for (let i = 0; i < 20; i += 1)
      await small.cache.wrap('profile', `size-${i}`, () => Promise.resolve(value), { ttlS: 60 });
    const entries = await small.metric('cache_l1_entries', {});
    const bytes = await small.metric('cache_l1_bytes', {});
    expect(entries).toBeGreaterThan(0);
    expect(bytes).toBeGreaterThan(entries * value.length);
    expect(bytes).toBeLessThanOrEqual(2_048);
    expect(await small.metric('cache_l1_evictions_total', {})).toBe(20 - entries);
  });

  it("times each load under its cache's name, and no read that a tier answered", async () => {
    const [a, b] = [await instance(), await instance()];
    const slow = (value: string) => () => sleep(30).then(() => value);
    await a.cache.wrap('timed-profile', 'k', slow('v'), { ttlS: 60 });
    await a.cache.wrap('timed-profile', 'k', neverCalled, { ttlS: 60 }); // L1
    await b.cache.wrap('timed-profile', 'k', neverCalled, { ttlS: 60 }); // Redis
    await a.cache.wrap('timed-cities', 'all', slow('c'), { ttlS: 60 });
    const loads = async (instance: Instance, cache: string) => {
      const family = (await instance.registry.getMetricsAsJSON()).find(
        (metric) => metric.name === 'cache_load_duration_seconds',
      );
      // A histogram's samples: its buckets, _sum and _count, each named.
      const values = (family?.values ?? []) as {
        value: number;
        labels: Record<string, unknown>;
        metricName?: string;
      }[];
      const sample = (suffix: string) =>
        values.find((v) => v.metricName === `cache_load_duration_seconds_${suffix}` && v.labels.cache === cache)
          ?.value ?? 0;
      return { count: sample('count'), seconds: sample('sum') };
    };
    const profile = await loads(a, 'timed-profile');
    expect(profile.count).toBe(1);
    expect(profile.seconds).toBeGreaterThanOrEqual(0.025);
    expect((await loads(a, 'timed-cities')).count).toBe(1);
    expect((await loads(b, 'timed-profile')).count).toBe(0);
  });

  it("removes an invalidated key from every instance's memory within 100 ms", async () => {
    const [a, b] = [await instance(), await instance()];
    let version = 'old';
    const load = () => Promise.resolve(version);
    await a.cache.wrap('profile', 'k', load, { ttlS: 60 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await b.cache.wrap('profile', 'k', load, { ttlS: 60 })).toBe('old');

    version = 'new';
    await a.cache.invalidate('profile', ['k']);
    const elapsed = await eventually(
      async () => (await b.cache.wrap('profile', 'k', load, { ttlS: 60 })) === 'new',
      100,
    );
    expect(elapsed).toBeLessThan(100);
  });

  it('ignores messages of the wrong shape on the channel and still hears the next invalidation', async () => {
    const [a, b] = [await instance(), await instance()];
    let version = 'old';
    const load = () => Promise.resolve(version);
    await a.cache.wrap('profile', 'shape', load, { ttlS: 60 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await b.cache.wrap('profile', 'shape', neverCalled, { ttlS: 60 })).toBe('old');

    const channel = `${namespace}cache:invalidate`;
    for (const junk of [
      'not json',
      'null',
      '{"origin":"elsewhere","keys":null,"tags":[]}',
      '{"origin":"x","keys":1}',
    ]) {
      await a.redis.publish(channel, junk);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Still in b's own memory (peek reads nothing else): Redis' copy would hide a junk message that emptied it.
    expect(b.cache.peek('profile', 'shape')).toBe('old');

    version = 'new';
    await a.cache.invalidate('profile', ['shape']);
    await eventually(async () => (await b.cache.wrap('profile', 'shape', load, { ttlS: 60 })) === 'new', 100);
  });

  it('peeks at a value only in its own memory, and stops answering on every instance once it is invalidated', async () => {
    const [a, b] = [await instance(), await instance()];
    expect(a.cache.peek('session', 'p')).toBeUndefined();
    await a.cache.wrap('session', 'p', () => Promise.resolve(3), { ttlS: 60 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(b.cache.peek('session', 'p')).toBeUndefined(); // in Redis only: peek never waits for it
    expect(await b.cache.wrap('session', 'p', neverCalled, { ttlS: 60 })).toBe(3);
    expect(b.cache.peek('session', 'p')).toBe(3);
    expect(a.cache.peek('session', 'p')).toBe(3);

    await a.cache.invalidate('session', ['p']);
    expect(a.cache.peek('session', 'p')).toBeUndefined();
    const elapsed = await eventually(() => b.cache.peek('session', 'p') === undefined, 100);
    expect(elapsed).toBeLessThan(100);
  });

  it('invalidates every key of a tag on every instance', async () => {
    const [a, b] = [await instance(), await instance()];
    let version = 1;
    const load = () => Promise.resolve(version);
    for (const key of ['page1', 'page2']) {
      await a.cache.wrap('lists', key, load, { ttlS: 60, tags: ['lists'] });
      await b.cache.wrap('lists', key, load, { ttlS: 60, tags: ['lists'] });
    }
    version = 2;
    await a.cache.invalidate('lists', [], ['lists']);
    await eventually(
      async () => (await b.cache.wrap('lists', 'page2', load, { ttlS: 60, tags: ['lists'] })) === 2,
      100,
    );
    expect(await a.cache.wrap('lists', 'page1', load, { ttlS: 60 })).toBe(2);
    // One write, one tag: counted once on each side, under the cache's name, the second pass included.
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await a.metric('cache_invalidations_total', { cache: 'lists', source: 'local' })).toBe(1);
    expect(await b.metric('cache_invalidations_total', { cache: 'lists', source: 'remote' })).toBe(1);
  });

  it('does not keep a value whose load overlapped an invalidation', async () => {
    const { cache } = await instance();
    let version = 'old';
    const slow = heldLoader(() => version); // reads the "database" before the write
    const racing = cache.wrap('race', 'k', slow.load, { ttlS: 60 });
    // Not a fixed pause: under load the cache's own Redis reads before the loader took longer than 20 ms (seen in CI).
    await slow.started;
    version = 'new';
    await cache.invalidate('race', ['k']); // the write lands while the old load is running
    const afterWrite = cache.wrap('race', 'k', () => Promise.resolve(version), { ttlS: 60 });
    slow.release();
    expect(await racing).toBe('old');
    expect(await afterWrite).toBe('new');
    expect(await cache.wrap('race', 'k', () => Promise.resolve('loader ran again'), { ttlS: 60 })).toBe('new');
  });

  it('does not keep a value whose load overlapped the invalidation of its tag', async () => {
    const { cache } = await instance();
    let version = 'old';
    const slow = heldLoader(() => version);
    const options = { ttlS: 60, tags: ['race-lists'] };
    const racing = cache.wrap('race-lists', 'page1', slow.load, options);
    await slow.started;
    version = 'new';
    await cache.invalidate('race-lists', [], ['race-lists']); // the page is not in L1 yet: only its tag names it
    slow.release();
    expect(await racing).toBe('old');
    expect(await cache.wrap('race-lists', 'page1', () => Promise.resolve(version), options)).toBe('new');
  });

  it('keeps no old page that a read of its own fetched from Redis while its invalidation of several tags ran', async () => {
    const { cache, redis } = await instance();
    let version = 'old';
    const load = () => Promise.resolve(version);
    // A search naming no city: an update drops the pages of the cities it left and entered, and these.
    const options = { ttlS: 60, tags: ['search-anywhere'] };
    await cache.wrap('pages', 'anywhere', load, options);
    // The L2 write is asynchronous: the race below needs the old page in Redis.
    await eventually(async () => (await redis.exists('cache:pages:anywhere')) === 1, 2_000);

    // A request for the page comes in while the first tag's deletion is on its way to Redis.
    let reading: Promise<string> | undefined;
    const send = redis.eval.bind(redis) as (...args: unknown[]) => Promise<unknown>;
    let scripts = 0;
    (redis as unknown as { eval: typeof send }).eval = (...args) => {
      const sent = send(...args);
      if (++scripts === 1) {
        queueMicrotask(() => {
          reading = cache.wrap('pages', 'anywhere', load, options);
        });
      }
      return sent;
    };
    version = 'new';
    await cache.invalidate('pages', [], ['search-city-a', 'search-city-b', 'search-anywhere']);
    await reading;
    // The write has answered: its own instance serves the page as it is now (until 2026-12-05 the old one, until the
    // second pass 500 ms later).
    expect(await cache.wrap('pages', 'anywhere', load, options)).toBe('new');
  });

  it('invalidates once more, on every instance, what an older version stored after the first pass', async () => {
    const [writer, reader] = [await instance(), await instance()];
    await writer.cache.invalidate('profile', ['late']);
    // Versions before generations stored a load unconditionally: one that read the database before the write
    // stores its value just after the first deletion.
    const entry = { v: 'old', exp: Date.now() + 60_000, d: 1 };
    await reader.redis.set('cache:profile:late', JSON.stringify(entry), 'PX', 60_000);
    const load = () => Promise.resolve('new');
    expect(await reader.cache.wrap('profile', 'late', load, { ttlS: 60 })).toBe('old'); // copied into its L1
    await eventually(async () => (await reader.cache.wrap('profile', 'late', load, { ttlS: 60 })) === 'new', 1_500);
  });

  it('never stores in Redis what a load read before a write, however late the load ends', async () => {
    const [writer, reader] = [await instance(), await instance()];
    // An instance that hears no invalidation in time (its event loop stalled, or its channel is reconnecting).
    const late = await Instance.create(requiredEnv('REDIS_URL'), namespace);
    instances.push(late);
    await late.subscriber.unsubscribe();
    let version = 'old';
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const options = { ttlS: 60, tags: ['late-lists'] };
    const lateLoads = ['late-key', 'late-page'].map((key) =>
      late.cache.wrap(
        'profile',
        key,
        async () => {
          const seen = version; // read the database before the write
          await gate;
          return seen;
        },
        options,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    version = 'new';
    await writer.cache.invalidate('profile', ['late-key'], ['late-lists']);
    // Past the second pass: nothing deletes the keys again.
    await new Promise((resolve) => setTimeout(resolve, 800));
    release();
    expect(await Promise.all(lateLoads)).toEqual(['old', 'old']);
    const load = () => Promise.resolve(version);
    expect(await reader.cache.wrap('profile', 'late-key', load, options)).toBe('new');
    expect(await reader.cache.wrap('profile', 'late-page', load, options)).toBe('new');
  });

  it('replaces an entry it cannot parse, and keeps using Redis for every other key', async () => {
    const [a, b] = [await instance(), await instance()];
    // Not written by this version: broken JSON, and JSON that is no entry.
    const foreign = ['{"v":', 'null', '{"a":1}', '[1,2]', '"text"', '{"v":1,"exp":"soon","d":0}'];
    for (const [index, raw] of foreign.entries()) {
      const key = `garbled-${index}`;
      await a.redis.set(`cache:profile:${key}`, raw, 'PX', 60_000);
      expect(await a.cache.wrap('profile', key, () => Promise.resolve('loaded'), { ttlS: 60 }), raw).toBe('loaded');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await b.cache.wrap('profile', key, neverCalled, { ttlS: 60 }), raw).toBe('loaded');
    }
    expect(await a.metric('cache_l2_errors_total', {})).toBe(0);
  });

  it('refreshes a hot key before it expires, so readers never wait for the loader', async () => {
    const { cache } = await instance();
    let calls = 0;
    const loader = async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 200)); // expensive → refreshed early
      return calls;
    };
    await cache.wrap('hot', 'key', loader, { ttlS: 1 });
    const slowest = { ms: 0 };
    const deadline = performance.now() + 2_500;
    while (performance.now() < deadline) {
      const started = performance.now();
      await cache.wrap('hot', 'key', loader, { ttlS: 1 });
      slowest.ms = Math.max(slowest.ms, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(calls).toBeGreaterThanOrEqual(2); // refreshed at least once in 2.5 s of a 1 s TTL
    expect(slowest.ms).toBeLessThan(150); // and no reader waited for the 200 ms loader
  });
  it('answers from Redis while a refresh of the key runs, with L1 off, instead of waiting for the loader', async () => {
    const { cache } = await instance({ l1Enabled: false });
    await cache.wrap('hot', 'no-l1', () => Promise.resolve('v1'), { ttlS: 60 });
    await sleep(10); // its flight has ended: the refresh below is one of its own
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const refreshing = cache.refresh('hot', 'no-l1', () => gate.then(() => 'v2'), { ttlS: 60 });
    const started = performance.now();
    const answer = await Promise.race([
      cache.wrap('hot', 'no-l1', neverCalled, { ttlS: 60 }),
      sleep(1_000).then(() => 'waited for the refresh'),
    ]);
    expect(answer).toBe('v1');
    expect(performance.now() - started).toBeLessThan(500);
    release();
    expect(await refreshing).toBe('v2');
    expect(await cache.wrap('hot', 'no-l1', neverCalled, { ttlS: 60 })).toBe('v2');
  });
});

describe('TieredCache when Redis fails', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  const opened: Instance[] = [];

  beforeAll(async () => {
    silent = await silentServer();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((i) => i.close()));
    await Promise.all(closeAfterTest.splice(0).map((client) => closeRedisClient(client)));
  });

  afterAll(() => silent.close());

  it('answers from the loader within tens of ms when Redis accepts connections but never replies', async () => {
    const url = `redis://127.0.0.1:${silent.port}`;
    // Client timeouts of a second, as in production: the cache's own 50 ms must bound the wait.
    const redis = createRedisClient({ url, connectTimeoutMs: 200, commandTimeoutMs: 1_000 }, quiet);
    const subscriber = createRedisClient({ url, connectTimeoutMs: 200, commandTimeoutMs: 1_000 }, quiet, true);
    const stalled = new Instance(redis, subscriber, 'stalled:');
    opened.push(stalled);
    void stalled.cache.start();
    const started = performance.now();
    expect(await stalled.cache.wrap('profile', 'x', () => Promise.resolve('from db'), { ttlS: 60 })).toBe('from db');
    expect(performance.now() - started).toBeLessThan(500);
    await expect(stalled.cache.invalidate('profile', ['x'])).resolves.toBeUndefined();
  });

  it('waits for a Redis that never replies once per backoff, not at every invalidation (sent, not waited for)', async () => {
    const url = `redis://127.0.0.1:${silent.port}`;
    const redis = createRedisClient({ url, connectTimeoutMs: 200, commandTimeoutMs: 1_000 }, quiet);
    const subscriber = createRedisClient({ url, connectTimeoutMs: 200, commandTimeoutMs: 1_000 }, quiet, true);
    const stalled = new Instance(redis, subscriber, 'stalled-deletes:');
    opened.push(stalled);
    void stalled.cache.start();
    await stalled.cache.invalidate('profile', ['first']); // waits for its timeout, and Redis is skipped for a while
    const sent = [vi.spyOn(redis, 'eval'), vi.spyOn(redis, 'publish')];

    // A profile delete with three photos makes about ten of these: each used to wait a timeout for its deletion and
    // another for its message, which took it past the request deadline with a Redis farther away. They are sent (a
    // Redis that is only slow takes them, and the other instances hear of the writes), but not waited for: none of
    // them timed out.
    for (const key of ['a', 'b', 'c']) await stalled.cache.invalidate('profile', [key], ['some-tag']);
    for (const spy of sent) expect(spy).toHaveBeenCalled();
    // Each write sends its own key (and its generation), not every key still pending: those wait for the replay.
    expect(sent[0].mock.calls.map((call) => call[1])).toEqual(Array(sent[0].mock.calls.length).fill(2));
    expect(await stalled.metric('cache_l2_errors_total', { operation: 'delete' })).toBe(1);
    expect(await stalled.metric('cache_l2_errors_total', { operation: 'publish' })).toBe(0);
    expect(await stalled.cache.wrap('profile', 'a', () => Promise.resolve('from db'), { ttlS: 60 })).toBe('from db');
  });

  it('leaves no unhandled rejection when its invalidation connection closes while subscribing again', async () => {
    // The first connection subscribes; on the next one, SUBSCRIBE gets no answer.
    let resubscribing = false;
    const proxy = await redisProxy((link, direction, chunk) => {
      const withheld = link > 1 && direction === 'to-redis' && /subscribe/i.test(chunk.toString());
      resubscribing ||= withheld;
      return !withheld;
    });
    const rejections: unknown[] = [];
    const collect = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', collect);
    try {
      const { cache, subscriber } = proxiedSubscriber(proxy.url, `cut-sub-${randomUUID().slice(0, 8)}:`);
      await cache.start();
      proxy.cut(1);
      await eventually(() => resubscribing, 5_000);
      // The process shuts down meanwhile: the SUBSCRIBE still waiting on that connection is rejected now.
      subscriber.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', collect);
      await proxy.close();
    }
  });

  /**
   * A reader whose invalidation connection goes through `proxyUrl` (its commands straight to Redis) and a writer, both
   * holding 'before' for one key; `write` changes it to 'after' on the writer.
   */
  const readerBehind = async (proxyUrl: string, name: string, channelCheckMs: number) => {
    const namespace = `${name}-${randomUUID().slice(0, 8)}:`;
    const reader = proxiedSubscriber(proxyUrl, namespace, channelCheckMs);
    await reader.cache.start();
    const writer = await Instance.create(requiredEnv('REDIS_URL'), namespace);
    opened.push(writer);
    let value = 'before';
    const read = (cache: TieredCache) => cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 });
    expect(await read(writer.cache)).toBe('before');
    expect(await read(reader.cache)).toBe('before');
    const write = async () => {
      value = 'after';
      await writer.cache.invalidate('profile', ['p']);
    };
    return { reader, readByReader: () => read(reader.cache), write };
  };

  it('reconnects an invalidation connection that went silent, and drops what it may have missed', async () => {
    // The first connection goes dead without closing, as behind a NAT that forgot it.
    let silent = false;
    const proxy = await redisProxy((link) => !(silent && link === 1));
    try {
      const { reader, readByReader, write } = await readerBehind(proxy.url, 'silent', 200);
      silent = true;
      await write();
      await eventually(async () => (await readByReader()) === 'after', 5_000);
      // Dropped for a new connection (it reads Redis from the moment the silent one is dropped).
      await eventually(() => proxy.links() === 2, 5_000);
      await eventually(
        async () => (await reader.metric('cache_invalidation_listening')) === 1 && reader.subscriber.status === 'ready',
        2_000,
      );
      // Counted as a start-over for a new subscription; its command connection never dropped.
      expect(await reader.metric('cache_l1_clears_total', { reason: 'subscribed' })).toBeGreaterThanOrEqual(1);
      expect(await reader.metric('cache_l1_clears_total', { reason: 'redis_reconnected' })).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('reads Redis, not its own memory, while its invalidation connection is lost and Redis still answers', async () => {
    // The invalidation connection is cut and cannot come back (as at Redis' client limit); commands go on working.
    let refused = false;
    const proxy = await redisProxy(() => !refused);
    try {
      const { reader, readByReader, write } = await readerBehind(proxy.url, 'deaf', 60_000); // no ping check meanwhile
      expect(await reader.metric('cache_invalidation_listening')).toBe(1);
      refused = true;
      proxy.cut(1);
      await eventually(() => Promise.resolve(reader.subscriber.status !== 'ready'), 2_000);
      expect(await reader.metric('cache_invalidation_listening')).toBe(0);
      await write();
      // Its memory still holds 'before' for 300 s; Redis no longer does.
      expect(await readByReader()).toBe('after');
      expect(reader.cache.peek('profile', 'p')).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('answers no copy from a deaf spell once it hears invalidations again, while a warm run of the key is slow', async () => {
    const link = await interruptibleLink();
    try {
      const namespace = `deaf-read-${randomUUID().slice(0, 8)}:`;
      // Commands wait long enough for the held GET below.
      const { cache, redis, subscriber, metric } = proxiedSubscriber(link.url, namespace, 100, 5_000);
      const listening = async () => (await metric('cache_invalidation_listening')) === 1;
      await cache.start();
      const writer = await Instance.create(requiredEnv('REDIS_URL'), namespace);
      opened.push(writer);
      const options = { ttlS: 300 };
      expect(await cache.wrap('profile', 'p', () => Promise.resolve('before'), options)).toBe('before');

      link.down();
      await eventually(async () => !(await listening()), 2_000);
      await writer.cache.invalidate('profile', ['p']); // unheard
      const warm = cache.refresh('profile', 'p', () => sleep(1_500).then(() => 'warm'), options);
      // The reader meets the warm run and asks Redis; its GET is held until the cache hears invalidations again,
      // which clears its memory.
      const getNow = redis.get.bind(redis);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let getSent = false;
      redis.get = (...args: Parameters<typeof getNow>) => {
        if (getSent) return getNow(...args);
        getSent = true;
        return held.then(() => getNow(...args));
      };
      const reader = cache.wrap('profile', 'p', () => Promise.resolve('after'), options);
      await eventually(() => getSent, 1_000);
      link.up();
      await eventually(async () => (await listening()) && subscriber.status === 'ready', 3_000);
      release();
      expect(await reader).toBe('after');
      await warm;
    } finally {
      await link.close();
    }
  });

  it('answers from its own memory once Redis is lost altogether, invalidation connection included', async () => {
    const link = await interruptibleLink();
    try {
      const lost = await Instance.create(link.url, `lost-${randomUUID().slice(0, 8)}:`);
      opened.push(lost);
      expect(await lost.cache.wrap('profile', 'p', () => Promise.resolve('held'), { ttlS: 300 })).toBe('held');
      link.down();
      await eventually(() => lost.redis.status !== 'ready' && lost.subscriber.status !== 'ready', 2_000);
      // Deaf to invalidations, it asks Redis first; Redis failing, what it holds answers, not the database.
      expect(await lost.cache.wrap('profile', 'p', neverCalled, { ttlS: 300 })).toBe('held');
      expect(lost.cache.peek('profile', 'p')).toBe('held');
      // Back, it empties its L1 once (the second connection to come back finds it empty) and counts it.
      link.up();
      await eventually(async () => (await lost.metric('cache_l1_clears_total', {})) === 1, 5_000);
      expect(lost.cache.peek('profile', 'p')).toBeUndefined();
      await eventually(() => lost.redis.status === 'ready' && lost.subscriber.status === 'ready', 5_000);
      expect(await lost.metric('cache_l1_clears_total', {})).toBe(1);
    } finally {
      await link.close();
    }
  });

  it('joins the invalidation channel once Redis appears, when it started while Redis was down', async () => {
    const server = await RedisProcess.start();
    await server.stop();
    const redis = createRedisClient(
      { url: server.url, keyPrefix: 'late:', connectTimeoutMs: 200, commandTimeoutMs: 50 },
      quiet,
    );
    const subscriber = createRedisClient(
      { url: server.url, connectTimeoutMs: 200, commandTimeoutMs: 200 },
      quiet,
      true,
    );
    const late = new Instance(redis, subscriber, 'late:');
    opened.push(late);
    await late.cache.start(); // SUBSCRIBE fails: Redis is down
    let value = 'v1';
    expect(await late.cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 })).toBe('v1');
    try {
      await server.start();
      await eventually(() => subscriber.status === 'ready' && redis.status === 'ready', 10_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await late.cache.wrap('profile', 'p', () => Promise.resolve('refilled'), { ttlS: 300 })).toBe('refilled');
      // Its memory answers only while it hears invalidations (with Redis up): this proves it subscribed.
      expect(late.cache.peek('profile', 'p')).toBe('refilled');

      const peer = await Instance.create(server.url, 'late:');
      opened.push(peer);
      value = 'v2';
      await peer.cache.invalidate('profile', ['p']);
      // Dropped from its memory by the message itself, not by a read of Redis.
      await eventually(() => late.cache.peek('profile', 'p') === undefined, 1_000);
      expect(await late.cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 })).toBe('v2');
    } finally {
      await server.stop();
    }
  });

  /**
   * A writer and a reader on a Redis of their own (the reader through `readerUrl` if given), both holding "before" for
   * key p (the reader copied it from L2). `write()` changes the value in the "database" and invalidates p through the
   * writer; `read(instance)` reads p.
   */
  const primedPair = async (writerUrl: string, namespace: string, readerUrl = writerUrl) => {
    const [writer, reader] = [await Instance.create(writerUrl, namespace), await Instance.create(readerUrl, namespace)];
    opened.push(writer, reader);
    let value = 'before';
    const read = (instance: Instance) =>
      instance.cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 });
    await read(writer);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await read(reader)).toBe('before');
    const write = async () => {
      value = 'after';
      await writer.cache.invalidate('profile', ['p']); // must neither throw nor wait for Redis
      expect(await read(writer)).toBe('after');
    };
    const readerSeesTheWrite = (timeoutMs: number) =>
      eventually(async () => (await read(reader)) === 'after', timeoutMs);
    return { writer, reader, readByReader: () => read(reader), write, readerSeesTheWrite };
  };

  it('tells the other instances of a deletion made while the writer had lost Redis, once it reconnects', async () => {
    // Only the writer's path to Redis drops (a partial partition), and for longer than the second pass: the reader never
    // reconnects, so only the writer's replay, once it is back, can tell it to forget its copy.
    const writerLink = await interruptibleLink();
    try {
      const namespace = `cut-${randomUUID().slice(0, 8)}:`;
      const { writer, readByReader, write, readerSeesTheWrite } = await primedPair(
        writerLink.url,
        namespace,
        requiredEnv('REDIS_URL'),
      );
      writerLink.down();
      await eventually(() => writer.redis.status !== 'ready', 1_000);
      await write(); // the deletion and the message both fail
      await sleep(SECOND_INVALIDATION_MS + 500); // the second pass has failed too
      expect(await readByReader()).toBe('before'); // nothing has told the reader yet
      writerLink.up();
      await readerSeesTheWrite(5_000);
    } finally {
      await writerLink.close();
    }
  });

  it('tells the other instances of a deletion whose message failed, once Redis takes one', async () => {
    // The deletion lands but the message is refused (here by an ACL; in production a connection that closes between
    // the two), on the first pass and on the second: nothing else would ever tell the reader.
    const server = await RedisProcess.start();
    const admin = new Redis(server.url);
    try {
      await admin.call('ACL', 'SETUSER', 'writer', 'on', 'nopass', '~*', '&*', '+@all', '-publish');
      const namespace = 'lost-message:';
      const writerUrl = server.url.replace('redis://', 'redis://writer@');
      const [writer, reader] = [
        await Instance.create(writerUrl, namespace),
        await Instance.create(server.url, namespace),
      ];
      opened.push(writer, reader);
      let value = 'before';
      const read = (instance: Instance) =>
        instance.cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 });
      await read(writer);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await read(reader)).toBe('before');

      value = 'after';
      await writer.cache.invalidate('profile', ['p']);
      await new Promise((resolve) => setTimeout(resolve, 700)); // past the second pass
      expect(await writer.metric('cache_l2_errors_total', { operation: 'publish' })).toBe(2);
      await admin.call('ACL', 'SETUSER', 'writer', '+publish');
      await eventually(async () => (await read(reader)) === 'after', 5_000);
      // The write is counted on the reader once, under its cache, though the message that told it was a replay.
      expect(await reader.metric('cache_invalidations_total', { cache: 'profile', source: 'remote' })).toBe(1);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  it('keeps no old value read from Redis while its replayed deletion was on the way there', async () => {
    // The deletion is refused (an ACL here; in production a failover's read-only replica) on the first pass and the
    // first replay (the second pass comes while Redis is skipped, and pends at once). When Redis takes writes again, the next replay is sent: the key is no longer
    // pending, and a read on the writer goes to Redis, which holds the old value until the replay lands. That read's
    // copy must not outlive the replay.
    const server = await RedisProcess.start();
    const admin = new Redis(server.url);
    try {
      await admin.call('ACL', 'SETUSER', 'writer', 'on', 'nopass', '~*', '&*', '+@all');
      const url = server.url.replace('redis://', 'redis://writer@');
      const writer = await Instance.create(url, 'replay-read:', { l2TimeoutMs: 1_000 });
      opened.push(writer);
      let value = 'before';
      const read = () => writer.cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 });
      expect(await read()).toBe('before');

      await admin.call('ACL', 'SETUSER', 'writer', '-eval');
      value = 'after';
      await writer.cache.invalidate('profile', ['p']);
      await eventually(
        async () => (await writer.metric('cache_l2_errors_total', { operation: 'delete' })) === 2,
        3_000,
      );
      // The next EVAL is the next replay's deletion: held until the read below has read Redis.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const evalNow = writer.redis.eval.bind(writer.redis);
      let replaySent = false;
      writer.redis.eval = ((...args: Parameters<typeof evalNow>) => {
        if (replaySent) return evalNow(...args);
        replaySent = true;
        return held.then(() => evalNow(...args));
      }) as typeof writer.redis.eval;
      await admin.call('ACL', 'SETUSER', 'writer', '+eval');
      await eventually(() => replaySent, 3_000);
      expect(await read()).toBe('before'); // Redis' copy, read while the replay is on its way
      release();
      // Kept, the copy would answer for its 300 s.
      await eventually(async () => (await read()) === 'after', 1_000);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  it('reads from the loader within tens of ms while a connected Redis answers nothing', async () => {
    const server = await RedisProcess.start();
    const admin = new Redis(server.url);
    try {
      const reader = await Instance.create(server.url, 'stalled-read:');
      opened.push(reader);
      await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
      const started = performance.now();
      expect(await reader.cache.wrap('profile', 'cold', () => Promise.resolve('from db'), { ttlS: 60 })).toBe(
        'from db',
      );
      // The GET waited for its 50 ms timeout on an open connection (not refused at once, as when disconnected).
      expect(performance.now() - started).toBeGreaterThanOrEqual(45);
      expect(performance.now() - started).toBeLessThan(500);
      expect(await reader.metric('cache_l2_errors_total', { operation: 'get' })).toBe(1);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  it('stays fast while Redis stalls and serves nothing stale once it answers again', async () => {
    const server = await RedisProcess.start();
    const admin = new Redis(server.url);
    try {
      const { write, readerSeesTheWrite } = await primedPair(server.url, 'stall:');
      // Redis keeps every connection open and answers nothing for 1 s: no reconnect tells anyone to start over.
      await admin.call('CLIENT', 'PAUSE', '1000', 'ALL');
      const started = performance.now();
      await write();
      expect(performance.now() - started).toBeLessThan(500);
      await readerSeesTheWrite(5_000);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  it('serves no stale value when Redis kept its data through an outage and the writer is back last', async () => {
    const [writerLink, readerLink] = [await interruptibleLink(), await interruptibleLink()];
    try {
      const namespace = `kept-${randomUUID().slice(0, 8)}:`;
      const { writer, reader, readByReader, write } = await primedPair(writerLink.url, namespace, readerLink.url);
      writerLink.down();
      readerLink.down();
      await eventually(() => writer.redis.status !== 'ready' && reader.redis.status !== 'ready', 2_000);
      await write(); // the deletion fails: only the writer remembers it
      // The reader is back first. Redis still holds 'before', and nothing has told the reader it changed.
      readerLink.up();
      await eventually(() => reader.redis.status === 'ready', 10_000);
      expect(await readByReader()).toBe('after');
    } finally {
      await Promise.all([writerLink.close(), readerLink.close()]);
    }
  });

  it('deletes what it invalidates, key and tag, at once, while a full Redis refuses writes', async () => {
    // At maxmemory with noeviction (the policy Bull needs), Redis refuses commands that may grow memory, SET among them,
    // but still deletes. Peers drop their L1 copies on the message and read Redis: the old entries must be gone from it.
    // Each invalidation follows a load whose write Redis refused, as under traffic: a refusal is no outage, and until
    // 2026-12-06 it made the writer skip Redis for a second, invalidations included, so peers kept serving 'before'.
    const server = await RedisProcess.start();
    const admin = new Redis(server.url);
    try {
      const namespace = 'full:';
      const [writer, reader] = [
        await Instance.create(server.url, namespace),
        await Instance.create(server.url, namespace),
      ];
      opened.push(writer, reader);
      let value = 'before';
      const read = (instance: Instance, key: string) =>
        instance.cache.wrap('profile', key, () => Promise.resolve(value), { ttlS: 300, tags: ['pages'] });
      await Promise.all([read(writer, 'p'), read(writer, 'page')]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect([await read(reader, 'p'), await read(reader, 'page')]).toEqual(['before', 'before']);

      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      await admin.config('SET', 'maxmemory', '1');
      await expect(admin.set('probe', '1')).rejects.toThrow(/OOM/);
      value = 'after';
      await read(writer, 'cold-1');
      await writer.cache.invalidate('profile', ['p']);
      expect(await admin.exists(`${namespace}cache:profile:p`)).toBe(0);
      expect(await eventually(async () => (await read(reader, 'p')) === 'after', 1_000)).toBeLessThan(100);
      await read(writer, 'cold-2');
      await writer.cache.invalidate('profile', [], ['pages']);
      expect(await admin.exists(`${namespace}cache:profile:page`)).toBe(0);
      await eventually(async () => (await read(reader, 'page')) === 'after', 1_000);
      expect(await writer.metric('cache_l2_errors_total', { operation: 'delete' })).toBe(0);
    } finally {
      admin.disconnect();
      await server.stop();
    }
  });

  it('serves no stale value after an outage during which a write happened', async () => {
    const server = await RedisProcess.start();
    try {
      const { reader, readByReader, write } = await primedPair(server.url, 'outage:');
      await server.stop();
      await write();
      await server.start();
      // The reader missed the invalidation; from the moment it is connected again it must not serve 'before'.
      await eventually(() => reader.redis.status === 'ready', 10_000);
      expect(await readByReader()).toBe('after');
    } finally {
      await server.stop();
    }
  });
});
