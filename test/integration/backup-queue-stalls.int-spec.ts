import Bull, { type Queue } from 'bull';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKUPS_QUEUE_SETTINGS, SCHEDULED_BACKUP_ATTEMPTS } from '../../src/backup/backup.scheduler.js';
import { requiredEnv } from '../support/test-env.js';

/**
 * A scheduled backup firing taken by workers that die during it (OOM-killed, the grace limit, a node lost) is taken
 * up by Bull's stalled-job check. Bull counts those stalls apart from the firing's attempts and fails the job for good
 * past `maxStalledCount` (1 by default): the second death lost the day's backup although 4 of its 5 tries were left.
 */
describe('a scheduled backup firing whose workers die during it', () => {
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

  it('is run again after a second death instead of failed with tries left', async () => {
    const prefix = `vesta-test-backup-stalls-${randomUUID()}`;
    const runs: number[] = [];
    // The app's settings for the queue; the lock is short and never renewed (the worker is dead) to keep the test short.
    const settings = { ...BACKUPS_QUEUE_SETTINGS, lockDuration: 1_000, lockRenewTime: 3_600_000, stalledInterval: 300 };
    for (let worker = 0; worker < 3; worker++) {
      const queue = new Bull('backups', requiredEnv('REDIS_URL'), { prefix, settings });
      queues.push(queue);
      void queue.process('backup', 1, async () => {
        runs.push(worker);
        await released;
      });
    }
    const firing = await queues[0].add(
      'backup',
      {},
      { attempts: SCHEDULED_BACKUP_ATTEMPTS, backoff: { type: 'fixed', delay: 1_000 } },
    );

    const settled = async () => runs.length >= 3 || (await firing.getState()) === 'failed';
    await expect.poll(settled, { timeout: 15_000, interval: 100 }).toBe(true);

    const job = await queues[0].getJob(firing.id);
    expect(job?.failedReason).toBeUndefined();
    expect(runs).toHaveLength(3);
  });
});
