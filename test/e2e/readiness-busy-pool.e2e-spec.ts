import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

// Below a slow query's time by a margin (834 ms alone on FerretDB on this 2-core machine at a load of 3.5), and far
// above a ping's.
const CHECK_TIMEOUT_MS = 500;

// Readiness asks whether MongoDB answers, not whether this pod's request pool has a free connection: a pool full of
// slow queries is load, and a probe that failed on it would take every pod under that load out of service at once.
describe('readiness while every pooled MongoDB connection is busy', () => {
  let running: RunningApp;
  let connection: Connection;

  beforeAll(async () => {
    running = await startApp(
      testConfig({ ROLE: 'api', MONGODB_MAX_POOL_SIZE: '2', HEALTH_CHECK_TIMEOUT_MS: String(CHECK_TIMEOUT_MS) }),
    );
    connection = running.app.get<Connection>(getConnectionToken());
    const scratch = connection.db!.collection('readiness_busy_pool');
    const rows = (offset: number) =>
      Array.from({ length: 20_000 }, (_, i) => ({ i: i + offset, pad: 'x'.repeat(200) }));
    await scratch.insertMany(rows(0));
    await scratch.insertMany(rows(20_000));
  }, 120_000);

  afterAll(async () => {
    await connection?.db?.collection('readiness_busy_pool').drop();
    await running?.close();
  });

  it('stays ready while slow queries hold the whole pool, the database answering them', async () => {
    const scratch = connection.db!.collection('readiness_busy_pool');
    // An in-memory sort of 40,000 rows: on FerretDB each takes well over HEALTH_CHECK_TIMEOUT_MS.
    const slowQuery = () =>
      scratch.aggregate([{ $sort: { pad: -1, i: -1 } }, { $group: { _id: null, rows: { $sum: 1 } } }]).toArray();
    const started = performance.now();
    await slowQuery();
    expect(performance.now() - started, 'one slow query outlasts the check timeout').toBeGreaterThan(CHECK_TIMEOUT_MS);

    const busy = Promise.all([slowQuery(), slowQuery(), slowQuery(), slowQuery()]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (let probe = 0; probe < 3; probe += 1) {
        const response = await fetch(`${running.url}/health/ready`);
        expect(response.status, await response.text()).toBe(200);
      }
    } finally {
      await busy;
    }
  });
});
