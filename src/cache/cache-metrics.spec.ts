import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CacheMetrics } from './cache-metrics.js';

describe('CacheMetrics', () => {
  it('exports every L1 clear reason at 0 from the start, so the first clear shows in increase()', async () => {
    const registry = new Registry();
    const metrics = new CacheMetrics(registry);
    const clears = async () => {
      const family = (await registry.getMetricsAsJSON()).find((metric) => metric.name === 'cache_l1_clears_total');
      return Object.fromEntries((family?.values ?? []).map((sample) => [String(sample.labels.reason), sample.value]));
    };
    expect(await clears()).toEqual({ subscribed: 0, redis_reconnected: 0, everything: 0 });
    metrics.l1Cleared('subscribed');
    expect(await clears()).toEqual({ subscribed: 1, redis_reconnected: 0, everything: 0 });
  });
});
