import type { Connection } from 'mongoose';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BusinessMetrics } from './business-metrics.js';

/** A connection whose counts read as set here, or fail while `answers` is false. */
function fakeConnection() {
  const connection = {
    answers: true,
    collection: (name: string) => ({
      estimatedDocumentCount: () =>
        connection.answers ? Promise.resolve(42) : Promise.reject(new Error(`${name}: server selection timed out`)),
      aggregate: () => ({
        toArray: () =>
          connection.answers
            ? Promise.resolve([{ _id: 'premium', count: 3 }])
            : Promise.reject(new Error(`${name}: server selection timed out`)),
      }),
    }),
  };
  return connection;
}

async function scraped(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric(name)!.get();
  return Object.fromEntries(metric.values.map(({ labels, value }) => [String(labels.plan ?? ''), value]));
}

describe('BusinessMetrics', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('leaves both gauges out of a scrape whose count failed, instead of repeating the last values', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const connection = fakeConnection();
    const registry = new Registry();
    new BusinessMetrics(connection as unknown as Connection, registry).onApplicationBootstrap();
    expect(await scraped(registry, 'vesta_profiles')).toEqual({ '': 42 });
    expect(await scraped(registry, 'vesta_active_subscriptions')).toMatchObject({ premium: 3 });

    connection.answers = false; // MongoDB stopped answering; the next refresh is due after 30 s
    vi.advanceTimersByTime(31_000);
    expect(await scraped(registry, 'vesta_active_subscriptions')).toEqual({});
    // Without labels it can be left out too (Gauge.remove({}), as BackupMetrics does): the last estimate repeated
    // while MongoDB does not answer would look true.
    expect(await scraped(registry, 'vesta_profiles')).toEqual({});
    expect(await registry.metrics()).not.toMatch(/^vesta_profiles /m);

    connection.answers = true;
    vi.advanceTimersByTime(31_000);
    expect(await scraped(registry, 'vesta_active_subscriptions')).toMatchObject({ premium: 3 });
    expect(await scraped(registry, 'vesta_profiles')).toEqual({ '': 42 });
  });
});
