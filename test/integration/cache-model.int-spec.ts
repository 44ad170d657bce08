import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TieredCacheOptions } from '../../src/cache/tiered-cache.js';
import { eventually, Instance } from '../support/cache-instance.js';
import { requiredEnv } from '../support/test-env.js';

const KEYS = ['k0', 'k1', 'k2'];
const tagOf = (key: string) => `grp-${Number(key.slice(1)) % 2}`;

type Op =
  | { kind: 'read' | 'warm' | 'peek'; on: 0 | 1; key: string; delayMs: number; loadMs: number; fails: boolean }
  | { kind: 'write'; on: 0 | 1; key: string; delayMs: number; byTag: boolean };

interface WriteRecord {
  on: number;
  key: string;
  version: number;
  /** First-pass messages the writer had published when its invalidation resolved. */
  published: number;
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constantFrom('read' as const, 'read' as const, 'warm' as const, 'peek' as const),
      on: fc.constantFrom(0 as const, 1 as const),
      key: fc.constantFrom(...KEYS),
      delayMs: fc.integer({ min: 0, max: 20 }),
      loadMs: fc.integer({ min: 0, max: 25 }),
      // About one load in seven fails, drawn by fast-check so that a failing run replays and shrinks.
      fails: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      on: fc.constantFrom(0 as const, 1 as const),
      key: fc.constantFrom(...KEYS),
      delayMs: fc.integer({ min: 0, max: 20 }),
      byTag: fc.boolean(),
    }),
    weight: 1,
  },
);

/**
 * Random interleavings of reads, early refreshes, peeks and writes (each followed by the eviction the app makes) on two
 * cache instances sharing Redis, as two pods do, checked against a model: once a write's eviction has reached an
 * instance (made there, or its message heard from the peer), no read there answers what the write replaced. Message
 * counts, not a time bound, say when an eviction has arrived, so the check does not depend on the machine's speed.
 * MODEL_RUNS sets the number of runs (25 by default) for a longer search by hand.
 */
describe('TieredCache model: two instances, one database', () => {
  const instances: Instance[] = [];
  let namespace: string;

  beforeAll(() => {
    namespace = `vesta-cachemodel-${randomUUID().slice(0, 8)}:`;
  });

  afterAll(async () => {
    const [first] = instances;
    if (first) {
      // KEYS answers with the prefix, which DEL adds again. The generation epoch never expires, so it goes too.
      const found = await first.redis.keys(`${namespace}*`);
      const names = found.map((key) => key.slice(namespace.length));
      if (names.length) await first.redis.del(...names);
    }
    await Promise.all(instances.map((i) => i.close()));
  });

  const run = async (steps: Op[][], ttlS: number, options: Partial<TieredCacheOptions>) => {
    const cacheName = `m${randomUUID().slice(0, 6)}`;
    const pair = [
      await Instance.create(requiredEnv('REDIS_URL'), namespace, { l2TimeoutMs: 500, ...options }),
      await Instance.create(requiredEnv('REDIS_URL'), namespace, { l2TimeoutMs: 500, ...options }),
    ];
    instances.push(...pair);
    const ids = pair.map((i) => (i.cache as unknown as { instanceId: string }).instanceId);
    const published = [0, 0];
    const received = [0, 0]; // received[i]: first-pass messages instance i heard from its peer
    pair.forEach((inst, i) => {
      const publish: (channel: string, message: string) => Promise<number> = inst.redis.publish.bind(inst.redis);
      (inst.redis as unknown as { publish: typeof publish }).publish = (channel, message) => {
        if ((JSON.parse(message) as { cache?: string }).cache === cacheName) published[i] += 1;
        return publish(channel, message);
      };
      // Registered after the cache's own listener, so it runs once the cache has acted on the message.
      inst.subscriber.on('message', (_channel: string, raw: string) => {
        const message = JSON.parse(raw) as { origin: string; cache?: string };
        if (message.cache === cacheName && message.origin === ids[1 - i]) received[i] += 1;
      });
    });

    const db = new Map(KEYS.map((key) => [key, 0]));
    let version = 0;
    const writes: WriteRecord[] = [];
    const violations: string[] = [];
    const wrapOptions = (key: string) => ({ ttlS, tags: [tagOf(key)] });

    /** The least version a read of `key` on `on` starting now may return. */
    const floor = (on: number, key: string) => {
      const heard = received[on];
      // A write by tag evicts its key with the rest of the tag: each key's floor is its own latest write.
      return writes
        .filter((w) => w.key === key && (w.on === on || w.published <= heard))
        .reduce((max, w) => Math.max(max, w.version), 0);
    };

    const read = async (op: Extract<Op, { kind: 'read' | 'warm' | 'peek' }>) => {
      await sleep(op.delayMs);
      const least = floor(op.on, op.key);
      const started = performance.now();
      let got: number | undefined;
      if (op.kind === 'peek') {
        got = pair[op.on].cache.peek<number>(cacheName, op.key);
        if (got !== undefined && got < least)
          violations.push(`peek of ${op.key} on ${op.on} got v${got}, but v${least} was evicted before`);
        return;
      }
      try {
        got = await pair[op.on].cache[op.kind === 'warm' ? 'refresh' : 'wrap'](
          cacheName,
          op.key,
          async () => {
            const seen = db.get(op.key)!;
            if (op.loadMs) await sleep(op.loadMs);
            if (op.fails) throw new Error('database unavailable');
            return seen;
          },
          wrapOptions(op.key),
        );
      } catch {
        return;
      }
      if (got < least)
        violations.push(
          `read of ${op.key} on ${op.on} at ${started.toFixed(1)} got v${got}, but v${least} was evicted before`,
        );
    };

    const write = async (op: Extract<Op, { kind: 'write' }>) => {
      await sleep(op.delayMs);
      version += 1;
      const written = version;
      db.set(op.key, written);
      const cache = pair[op.on].cache;
      if (op.byTag) await cache.invalidate(cacheName, [], [tagOf(op.key)]);
      else await cache.invalidate(cacheName, [op.key]);
      writes.push({
        on: op.on,
        key: op.key,
        version: written,
        published: published[op.on],
      });
    };

    for (const step of steps) {
      await Promise.all(step.map((op) => (op.kind === 'write' ? write(op) : read(op))));
      // Quiescent: every first-pass message has reached the peer.
      await eventually(() => received[0] === published[1] && received[1] === published[0], 2_000);
      for (const key of KEYS) {
        for (const on of [0, 1]) {
          const load = () => pair[on].cache.wrap(cacheName, key, () => Promise.resolve(db.get(key)!), wrapOptions(key));
          // A failing early refresh started by a read of the step may still run: joined, it answers its error.
          const got = await load().catch(load);
          if (got !== db.get(key)) violations.push(`quiescent read of ${key} on ${on} got v${got}, db v${db.get(key)}`);
        }
      }
    }
    await Promise.all(pair.map((i) => i.close()));
    instances.splice(instances.indexOf(pair[0]), 2);
    return violations;
  };

  it('serves nothing a write replaced once its eviction reached the instance, with short TTLs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom(0.03, 0.08, 5),
        async (steps, ttlS) => {
          const violations = await run(steps, ttlS, {});
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: Number(process.env.MODEL_RUNS ?? 25) },
    );
  });

  it('serves nothing a write replaced, with a grace period and failing loads', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom(0.03, 0.08),
        async (steps, ttlS) => {
          const violations = await run(steps, ttlS, { graceMs: 60_000, softTimeoutMs: 10, reloadRetryMs: 50 });
          expect(violations).toEqual([]);
        },
      ),
      { numRuns: Number(process.env.MODEL_RUNS ?? 25) },
    );
  });

  it('calls the loader once for concurrent misses of one key on one instance, whatever came before', async () => {
    const cached = await Instance.create(requiredEnv('REDIS_URL'), namespace, { l2TimeoutMs: 500 });
    const graced = await Instance.create(requiredEnv('REDIS_URL'), namespace, {
      l2TimeoutMs: 500,
      graceMs: 60_000,
      softTimeoutMs: 10,
      reloadRetryMs: 50,
    });
    instances.push(cached, graced);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('cold', 'expired', 'invalidated', 'peer-invalidated'),
        fc.boolean(),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 2, maxLength: 12 }),
        async (before, withGrace, delays) => {
          const { cache } = withGrace ? graced : cached;
          const key = randomUUID().slice(0, 8);
          const options = { ttlS: 0.03 };
          if (before !== 'cold') {
            await cache.wrap('sf', key, () => Promise.resolve(0), options);
            if (before === 'expired') await sleep(40);
            if (before === 'invalidated') await cache.invalidate('sf', [key]);
            if (before === 'peer-invalidated') {
              await (withGrace ? cached : graced).cache.invalidate('sf', [key]);
              await sleep(20);
            }
          }
          let calls = 0;
          const loader = async () => {
            calls += 1;
            await sleep(20);
            return 1;
          };
          await Promise.all(delays.map((ms) => sleep(ms).then(() => cache.wrap('sf', key, loader, options))));
          expect(calls).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: Number(process.env.MODEL_RUNS ?? 25) },
    );
  });
});
