import { createHook } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Instance } from '../support/cache-instance.js';
import { requiredEnv } from '../support/test-env.js';

/** Timers pending now, unref'd ones included (process.getActiveResourcesInfo leaves those out). */
const pending = new Set<number>();
createHook({
  init: (id, type) => void (type === 'Timeout' && pending.add(id)),
  destroy: (id) => void pending.delete(id),
}).enable();
const timers = () => pending.size;

describe('TieredCache fail-safe over a long outage', () => {
  const instances: Instance[] = [];
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.close()));
  });

  it('leaves no timer behind per failed reload answered from grace', async () => {
    // CACHE_GRACE_S' default (an hour); a short hold so the loop sees many reloads fail, as an hour-long outage does.
    const a = await Instance.create(requiredEnv('REDIS_URL'), `vesta-grace-timers-${randomUUID().slice(0, 8)}:`, {
      graceMs: 3_600_000,
      softTimeoutMs: 50,
      reloadRetryMs: 1,
    });
    instances.push(a);
    await a.cache.wrap('grace', 'key', () => Promise.resolve('v1'), { ttlS: 0.1 });
    await sleep(150);
    const before = timers();
    for (let i = 0; i < 300; i += 1) {
      expect(await a.cache.wrap('grace', 'key', () => Promise.reject(new Error('database down')), { ttlS: 0.1 })).toBe(
        'v1',
      );
      await sleep(3); // past the hold: the next read reloads again
    }
    await sleep(100);
    expect(await a.metric('cache_stale_served_total', { cache: 'grace', reason: 'failed' })).toBeGreaterThan(100);
    expect(timers() - before).toBeLessThan(20);
  });
});
