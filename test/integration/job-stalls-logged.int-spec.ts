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
  /** A run that never ends, as on a worker that died during it: only the lock's expiry frees the job. */
  const dying = () => new Promise<never>(() => undefined);

  // The workers share one queue: its keys go once (Bull obliterates only a paused queue), then each closes without
  // waiting for its run, which never ends.
  afterEach(async () => {
    const [first, ...others] = queues.splice(0);
    await first?.pause().then(() => first.obliterate({ force: true }));
    await Promise.all([first, ...others].map((queue) => queue?.close(true)));
  });

  it('is logged as stalled by the worker whose check found it, and as failed once it stalled too often', async () => {
    const prefix = `vesta-test-job-stalls-${randomUUID()}`;
    // The lock is short and never renewed, as a dead worker's is, to keep the test short.
    const settings = { lockDuration: 1_000, lockRenewTime: 3_600_000, stalledInterval: 300 };
    const [warnings, errors]: string[][] = [[], []];
    const runs: number[] = [];
    for (const worker of [0, 1]) {
      const queue = new Bull('media', requiredEnv('REDIS_URL'), { prefix, settings });
      queues.push(queue);
      const logger = { warn: (line: string) => warnings.push(line), error: (line: string) => errors.push(line) };
      processJobs(queue, 'variants', () => (runs.push(worker), dying()), logger);
    }
    const job = await queues[0].add('variants', {});

    // The warning may follow the second run's start: Bull emits it once its check's script has returned.
    await expect
      .poll(() => warnings, { timeout: 15_000, interval: 100 })
      .toContainEqual(expect.stringMatching(`^media job variants ${job.id} stalled`));
    await expect.poll(() => runs.length, { timeout: 15_000, interval: 100 }).toBe(2);
    // Its second run stalls too, past Bull's limit of one: the check fails it, which no handler logs.
    await expect
      .poll(() => errors, { timeout: 15_000, interval: 100 })
      .toContainEqual(`media job variants ${job.id} failed: it stalled too often`);
  });
});
