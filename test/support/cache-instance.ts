import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { CacheMetrics } from '../../src/cache/cache-metrics.js';
import { L2_SENT_AT_ONCE } from '../../src/cache/l2-store.js';
import { TieredCache, type TieredCacheOptions } from '../../src/cache/tiered-cache.js';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../../src/redis/redis-client.factory.js';

/** A logger for Redis clients that keeps test output clean. */
export const quiet = { log: () => undefined, warn: () => undefined } as never;

/** One "instance": its own L1 and connections, sharing Redis (and the channel) with its peers. */
export class Instance {
  readonly registry = new Registry();
  readonly cache: TieredCache;

  constructor(
    readonly redis: Redis,
    readonly subscriber: Redis,
    namespace: string,
    options: Partial<TieredCacheOptions> = {},
  ) {
    this.cache = new TieredCache(redis, subscriber, new CacheMetrics(this.registry), {
      l1Enabled: true,
      l1MaxBytes: 10 * 1024 * 1024,
      ttlJitter: 0,
      l2TimeoutMs: 50,
      channel: `${namespace}cache:invalidate`,
      ...options,
    });
  }

  static async create(url: string, namespace: string, options: Partial<TieredCacheOptions> = {}): Promise<Instance> {
    const redis = createRedisClient(
      { url, keyPrefix: namespace, connectTimeoutMs: 500, commandTimeoutMs: 1_000, sentAtOnce: L2_SENT_AT_ONCE },
      quiet,
    );
    const subscriber = createRedisClient({ url, connectTimeoutMs: 500, commandTimeoutMs: 500 }, quiet, true);
    await Promise.all([waitUntilReady(redis, 2_000), waitUntilReady(subscriber, 2_000)]);
    const instance = new Instance(redis, subscriber, namespace, options);
    await instance.cache.start();
    return instance;
  }

  metric(name: string, labels: Record<string, string>): Promise<number> {
    return metricValue(this.registry, name, labels);
  }

  async close(): Promise<void> {
    this.cache.stop();
    await Promise.all([closeRedisClient(this.redis), closeRedisClient(this.subscriber)]);
  }
}

/** The sum of a metric's series that carry `labels`, as a scrape would show it. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A loader for reads that must be answered from the cache. */
export const neverCalled = (): Promise<never> => Promise.reject(new Error('loader must not run'));

/**
 * A loader for a load that reads the database before a write and ends after it: it reads `current()` when called,
 * then answers only once `release()` is called. `started` resolves once it has read.
 */
export function heldLoader<T>(current: () => T) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const load = async (): Promise<T> => {
    const seen = current();
    markStarted();
    await released;
    return seen;
  };
  return { load, started, release };
}

/** Polls `check` every 5 ms; how long it took to hold, or throws after `timeoutMs`. */
export const eventually = async (check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> => {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
};
