import Bull, { type Queue } from 'bull';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { processJobs } from '../../src/queues/recurring-job.js';
import { requiredEnv } from '../support/test-env.js';

/**
 * A job whose worker dies during it is run again by another worker's stalled-job check. Bull tells only through
 * events, so the worker whose check finds it must say so in its log: otherwise a job that ran twice leaves no trace.
 */
describe('a job taken up again after its worker died', () => {
  const queues: Queue[] = [];
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));

  afterEach(async () => {
    release();
    for (const queue of queues.splice(0)) {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close(true);
    }
  });

  it('is logged as stalled by the worker whose check found it', async () => {
    const prefix = `vesta-test-job-stalls-${randomUUID()}`;
    // The lock is short and never renewed, as a dead worker's is, to keep the test short.
    const settings = { lockDuration: 1_000, lockRenewTime: 3_600_000, stalledInterval: 300 };
    const warnings: string[] = [];
    const runs: number[] = [];
    for (const worker of [0, 1]) {
      const queue = new Bull('media', requiredEnv('REDIS_URL'), { prefix, settings });
      queues.push(queue);
      const logger = { warn: (line: string) => warnings.push(line), error: () => undefined };
      processJobs(queue, 'variants', () => (runs.push(worker), released), logger);
    }
    const job = await queues[0].add('variants', {});

    await expect.poll(() => runs.length, { timeout: 15_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    expect(warnings).toContainEqual(expect.stringMatching(`^media job variants ${job.id} stalled`));
  });
});
