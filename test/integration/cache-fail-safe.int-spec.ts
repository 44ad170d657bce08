import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_SESSIONS_CACHE } from '../../src/auth/sessions.service.js';
import type { TieredCacheOptions } from '../../src/cache/tiered-cache.js';
import { eventually, Instance, neverCalled } from '../support/cache-instance.js';
import { requiredEnv } from '../support/test-env.js';

/** Entries live 100 ms; expired, they stay usable as a fallback for a minute unless a test says otherwise. */
const SHORT = { ttlS: 0.1 };
const FAIL_SAFE: Partial<TieredCacheOptions> = { graceMs: 60_000, softTimeoutMs: 50, reloadRetryMs: 1_000 };
const databaseDown = () => Promise.reject(new Error('database unavailable'));

describe('TieredCache fail-safe: expired values answer while the loader fails or is slow', () => {
  const instances: Instance[] = [];
  let namespace: string;

  const instance = async (options = FAIL_SAFE) => {
    const created = await Instance.create(requiredEnv('REDIS_URL'), namespace, options);
    instances.push(created);
    return created;
  };
  /** A value cached with SHORT, then left to expire. */
  const expired = async (target: Instance, key: string, value: string) => {
    await target.cache.wrap('fail-safe', key, () => Promise.resolve(value), SHORT);
    await sleep(150);
  };

  /** A warm run of the key whose load answers 'v2' after 1 s: a reader that waited for it would get 'v2'. */
  const slowWarmRun = (target: Instance, key: string) =>
    target.cache.refresh('fail-safe', key, () => sleep(1_000).then(() => 'v2'), SHORT);

  beforeAll(() => {
    namespace = `vesta-fail-safe-test-${randomUUID().slice(0, 8)}:`;
  });

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.close()));
  });

  it('answers with the expired value when the reload fails, and asks the loader again only after the hold', async () => {
    const a = await instance();
    await expired(a, 'failing', 'v1');
    let calls = 0;
    const failing = () => {
      calls += 1;
      return databaseDown();
    };

    expect(await a.cache.wrap('fail-safe', 'failing', failing, SHORT)).toBe('v1');
    expect(await a.cache.wrap('fail-safe', 'failing', failing, SHORT)).toBe('v1');
    expect(calls).toBe(1);
    expect(await a.metric('cache_stale_served_total', { cache: 'fail-safe', reason: 'failed' })).toBe(1);

    await sleep(1_100);
    expect(await a.cache.wrap('fail-safe', 'failing', () => Promise.resolve('v2'), SHORT)).toBe('v2');
  });

  it('answers with the expired value while a slow reload runs, once however long it takes, then with its value', async () => {
    const a = await instance();
    await expired(a, 'slow', 'v1');
    let calls = 0;
    const slow = async () => {
      calls += 1;
      await sleep(1_500); // longer than reloadRetryMs too: a slow query is not started again meanwhile
      return 'v2';
    };

    const answers = await Promise.all(Array.from({ length: 10 }, () => a.cache.wrap('fail-safe', 'slow', slow, SHORT)));
    expect(answers).toEqual(Array(10).fill('v1'));
    await sleep(1_100);
    expect(await a.cache.wrap('fail-safe', 'slow', slow, SHORT)).toBe('v1');
    expect(calls).toBe(1);
    expect(await a.metric('cache_stale_served_total', { cache: 'fail-safe', reason: 'slow' })).toBe(1);

    // The reload finishes in the background and stores its value in both tiers.
    await eventually(async () => (await a.cache.wrap('fail-safe', 'slow', neverCalled, SHORT)) === 'v2', 3_000);
    const b = await instance();
    expect(await b.cache.wrap('fail-safe', 'slow', neverCalled, SHORT)).toBe('v2');
  });

  it('answers with the expired value rather than wait long for a warm run or early refresh of the key', async () => {
    const a = await instance();
    await expired(a, 'warming', 'v1');
    const warming = slowWarmRun(a, 'warming');

    expect(await a.cache.wrap('fail-safe', 'warming', neverCalled, SHORT)).toBe('v1');
    await warming;
    expect(await a.cache.wrap('fail-safe', 'warming', neverCalled, SHORT)).toBe('v2');
  });

  it("falls back on Redis' copy on an instance that never held the value", async () => {
    const [a, b] = [await instance(), await instance()];
    await expired(a, 'shared', 'v1');
    expect(await b.cache.wrap('fail-safe', 'shared', databaseDown, SHORT)).toBe('v1');
  });

  it("falls back on Redis' copy while a warm run fails on an instance that never held the value", async () => {
    const [a, b] = [await instance(), await instance()];
    await expired(a, 'warm-fails', 'v1');
    const warming = b.cache.refresh('fail-safe', 'warm-fails', () => sleep(200).then(databaseDown), SHORT);
    warming.catch(() => undefined);
    expect(await b.cache.wrap('fail-safe', 'warm-fails', databaseDown, SHORT)).toBe('v1');
  });

  it("answers with Redis' expired copy rather than wait long for a warm run, with L1 off", async () => {
    const a = await instance({ ...FAIL_SAFE, l1Enabled: false });
    await expired(a, 'warm-slow', 'v1');
    const warming = slowWarmRun(a, 'warm-slow');

    expect(await a.cache.wrap('fail-safe', 'warm-slow', neverCalled, SHORT)).toBe('v1');
    await warming;
    expect(await a.cache.wrap('fail-safe', 'warm-slow', neverCalled, SHORT)).toBe('v2');
  });

  it('serves no expired value past its grace period', async () => {
    const a = await instance({ ...FAIL_SAFE, graceMs: 1_000, reloadRetryMs: 0 });
    await expired(a, 'too-old', 'v1');
    expect(await a.cache.wrap('fail-safe', 'too-old', databaseDown, SHORT)).toBe('v1');
    await sleep(1_200);
    await expect(a.cache.wrap('fail-safe', 'too-old', databaseDown, SHORT)).rejects.toThrow('database unavailable');
  });

  it('serves no expired value past its grace period while the failed reload is held', async () => {
    const a = await instance({ ...FAIL_SAFE, graceMs: 1_000, reloadRetryMs: 5_000 });
    await expired(a, 'held', 'v1');
    expect(await a.cache.wrap('fail-safe', 'held', databaseDown, SHORT)).toBe('v1');
    await sleep(1_200);
    // The failed reload is still held (5 s), but what it answered with is past its grace.
    await expect(a.cache.wrap('fail-safe', 'held', databaseDown, SHORT)).rejects.toThrow('database unavailable');
    expect(await a.cache.wrap('fail-safe', 'held', () => Promise.resolve('v2'), SHORT)).toBe('v2');
  });

  it('serves no expired value of a cache without fail-safe (account sessions): the failed or slow reload answers', async () => {
    const a = await instance();
    const strict = { ...ACCOUNT_SESSIONS_CACHE, ...SHORT };
    await a.cache.wrap('fail-safe', 'strict', () => Promise.resolve('v1'), strict);
    await sleep(150);
    await expect(a.cache.wrap('fail-safe', 'strict', databaseDown, strict)).rejects.toThrow('database unavailable');
    const slow = async () => {
      await sleep(300); // beyond the soft timeout (50 ms), after which a fail-safe cache answers with 'v1'
      return 'v2';
    };
    expect(await a.cache.wrap('fail-safe', 'strict', slow, strict)).toBe('v2');
  });

  it("keeps and serves an expired entry no longer than its cache's maxGraceS, in Redis too", async () => {
    const a = await instance();
    const shortGrace = { ...SHORT, maxGraceS: 1 };
    await a.cache.wrap('fail-safe', 'short-grace', () => Promise.resolve('v1'), shortGrace);
    // TTL and the cache's own grace, not CACHE_GRACE_S (60 s here).
    expect(await a.redis.pttl('cache:fail-safe:short-grace')).toBeLessThanOrEqual(1_100);
    await sleep(150);
    expect(await a.cache.wrap('fail-safe', 'short-grace', databaseDown, shortGrace)).toBe('v1');
    await sleep(1_100);
    await expect(a.cache.wrap('fail-safe', 'short-grace', databaseDown, shortGrace)).rejects.toThrow(
      'database unavailable',
    );
  });

  it('keeps a loaded null only absentTtlS and without grace, in Redis too, and a found value as before', async () => {
    const a = await instance();
    const options = { ttlS: 60, absentTtlS: 0.2 };
    expect(await a.cache.wrap('fail-safe', 'absent', () => Promise.resolve(null), options)).toBeNull();
    expect(await a.redis.pttl('cache:fail-safe:absent')).toBeLessThanOrEqual(200);
    expect(await a.cache.wrap('fail-safe', 'absent', neverCalled, options)).toBeNull();
    await sleep(300);
    expect(await a.redis.exists('cache:fail-safe:absent')).toBe(0);
    // Nothing to fall back on: past absentTtlS the read goes to the loader, here a database that fails.
    await expect(a.cache.wrap('fail-safe', 'absent', databaseDown, options)).rejects.toThrow('database unavailable');

    await a.cache.wrap('fail-safe', 'present', () => Promise.resolve('v1'), options);
    // The TTL plus CACHE_GRACE_S (60 s here).
    expect(await a.redis.pttl('cache:fail-safe:present')).toBeGreaterThan(100_000);
  });

  it('serves no expired value after an invalidation, on the writer or elsewhere', async () => {
    const [a, b] = [await instance(), await instance()];
    await a.cache.wrap('fail-safe', 'changed', () => Promise.resolve('v1'), SHORT);
    expect(await b.cache.wrap('fail-safe', 'changed', neverCalled, SHORT)).toBe('v1'); // in b's L1 too
    await sleep(150);
    await a.cache.invalidate('fail-safe', ['changed']);
    await sleep(50); // the message reaches b
    for (const target of [a, b]) {
      await expect(target.cache.wrap('fail-safe', 'changed', databaseDown, SHORT)).rejects.toThrow(
        'database unavailable',
      );
    }
  });

  it("serves no expired value after its tag's invalidation, from Redis either", async () => {
    const a = await instance();
    const tagged = { ...SHORT, tags: ['fail-safe-lists'] };
    await a.cache.wrap('fail-safe', 'page', () => Promise.resolve('v1'), tagged);
    await sleep(150);
    await a.cache.invalidate('fail-safe', [], ['fail-safe-lists']);
    // A new instance has nothing in L1: only Redis could still hold the expired page.
    const fresh = await instance();
    await expect(fresh.cache.wrap('fail-safe', 'page', databaseDown, tagged)).rejects.toThrow('database unavailable');
  });

  it('waits for the reload rather than answer with the old value when an invalidation lands meanwhile', async () => {
    const a = await instance({ ...FAIL_SAFE, softTimeoutMs: 500 });
    await expired(a, 'raced', 'before the write');
    let loadStarted!: () => void;
    const started = new Promise<void>((resolve) => (loadStarted = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const gatedLoad = async () => {
      loadStarted();
      await gate;
      return 'loaded';
    };

    const reading = a.cache.wrap('fail-safe', 'raced', gatedLoad, SHORT);
    await started;
    await a.cache.invalidate('fail-safe', ['raced']); // within the 500 ms soft timeout
    await sleep(600); // past it
    release();
    expect(await reading).toBe('loaded');
  });

  it('stores nothing from a reload that outlived the grace of the value it answered with, so no later write is undone', async () => {
    const a = await instance({ ...FAIL_SAFE, graceMs: 1_000 });
    await expired(a, 'outlived', 'v1');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const readBeforeTheWrite = () => gate.then(() => 'read before the write');
    // Kept for a minute, were it kept: long enough to be read back below, however slow this machine is.
    expect(await a.cache.wrap('fail-safe', 'outlived', readBeforeTheWrite, { ttlS: 60 })).toBe('v1');
    await sleep(1_100); // v1 has left its grace: the flight is released, its load still runs
    await a.cache.invalidate('fail-safe', ['outlived']);
    await sleep(600); // past the invalidation's second pass
    release();
    await sleep(50);
    expect(await a.cache.wrap('fail-safe', 'outlived', () => Promise.resolve('after'), SHORT)).toBe('after');
  });

  it('answers from the loader only when grace is off (the default)', async () => {
    const a = await instance({});
    await expired(a, 'no-grace', 'v1');
    await expect(a.cache.wrap('fail-safe', 'no-grace', databaseDown, SHORT)).rejects.toThrow('database unavailable');
  });
});
