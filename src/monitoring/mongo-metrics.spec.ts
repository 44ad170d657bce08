import type { Connection } from 'mongoose';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MongoMetrics } from './mongo-metrics.js';

describe('mongodb_pool_connections', () => {
  it('reads the driver’s pools when scraped, per server, and leaves them out while there are none', async () => {
    const pool = { totalConnectionCount: 7, currentCheckedOutCount: 3 };
    const client: EventEmitter & { topology?: object } = Object.assign(new EventEmitter(), {
      topology: { s: { servers: new Map([['db-0:27017', { pool }]]) } },
    });
    const registry = new Registry();
    new MongoMetrics({ getClient: () => client } as unknown as Connection, registry).onApplicationBootstrap();
    const scraped = async () =>
      (await registry.getSingleMetric('mongodb_pool_connections')!.get()).values.map(({ labels, value }) => ({
        ...labels,
        value,
      }));

    expect(await scraped()).toEqual([
      { server: 'db-0:27017', state: 'open', value: 7 },
      { server: 'db-0:27017', state: 'in_use', value: 3 },
    ]);
    // Connections the pool opened or returned without an event this code saw (before it was registered) count too.
    Object.assign(pool, { totalConnectionCount: 2, currentCheckedOutCount: 0 });
    expect(await scraped()).toEqual([
      { server: 'db-0:27017', state: 'open', value: 2 },
      { server: 'db-0:27017', state: 'in_use', value: 0 },
    ]);
    client.topology = undefined; // the client closed
    expect(await scraped()).toEqual([]);
  });
});
