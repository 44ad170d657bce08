import Bull, { type Queue } from 'bull';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runRecurring, stopRecurring } from '../../src/queues/recurring-job.js';
import { freeRestartablePort } from '../support/ports.js';
import { requiredEnv } from '../support/test-env.js';

const quiet = { log: () => undefined, warn: () => undefined } as never;
const idle = () => Promise.resolve();

/** Starts passing connections on `port` to the tests' Redis: until then, the port refuses them. */
async function relayToRedis(port: number) {
  const target = new URL(requiredEnv('REDIS_URL'));
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    sockets.push(client, upstream);
    for (const socket of [client, upstream]) socket.on('error', () => undefined);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    close: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Schedules as a worker started with each configuration would leave them in the real Redis. */
describe('runRecurring schedules in Redis', () => {
  const queues: Queue[] = [];

  /** A new Bull connection per "start" on one queue key space, as a restarted worker has. */
  function start(prefix: string, options: Bull.QueueOptions = {}): Queue {
    const queue = options.redis
      ? new Bull('jobs', { prefix, ...options })
      : new Bull('jobs', requiredEnv('REDIS_URL'), { prefix });
    queues.push(queue);
    return queue;
  }

  afterEach(async () => {
    for (const queue of queues.splice(0)) {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });

  const until = async (check: () => Promise<boolean>) => {
    for (let i = 0; i < 100 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  };

  it('replaces the schedule of an earlier interval instead of keeping both', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    runRecurring(start(prefix), { name: 'warm', everyMs: 300_000, handler: idle }, quiet);
    const restarted = start(prefix);
    await until(async () => (await restarted.getRepeatableJobs()).length > 0);

    runRecurring(restarted, { name: 'warm', everyMs: 60_000, handler: idle }, quiet);
    await until(async () => (await restarted.getRepeatableJobs()).some((job) => Number(job.every) === 60_000));
    await new Promise((resolve) => setTimeout(resolve, 200));

    const schedules = await restarted.getRepeatableJobs();
    expect(schedules.map((job) => Number(job.every))).toEqual([60_000]);
  });

  it('replaces the schedule of an earlier cron expression', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    runRecurring(start(prefix), { name: 'backup', cron: '0 3 * * *', handler: idle }, quiet);
    const restarted = start(prefix);
    await until(async () => (await restarted.getRepeatableJobs()).length > 0);

    runRecurring(restarted, { name: 'backup', cron: '30 4 * * *', handler: idle }, quiet);
    await until(async () => (await restarted.getRepeatableJobs()).some((job) => job.cron === '30 4 * * *'));
    await new Promise((resolve) => setTimeout(resolve, 200));

    const schedules = await restarted.getRepeatableJobs();
    expect(schedules.map((job) => job.cron)).toEqual(['30 4 * * *']);
  });

  it('leaves no firing of an earlier cron behind when the job retries (as the scheduled backup does)', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    const retry = { attempts: 5, delayMs: 65_000 };
    runRecurring(start(prefix), { name: 'backup', cron: '0 3 * * *', handler: idle, retry }, quiet);
    const restarted = start(prefix);
    await until(async () => (await restarted.getDelayed()).length > 0);

    runRecurring(restarted, { name: 'backup', cron: '30 4 * * *', handler: idle, retry }, quiet);
    const firesAt = async () =>
      // A job removed between Bull's two reads comes back as null.
      (await restarted.getDelayed())
        .filter(Boolean)
        .map((job) => new Date(job.timestamp + (job.opts.delay ?? 0)).getUTCHours());
    await until(async () => (await firesAt()).join() === '4');

    expect(await firesAt()).toEqual([4]);
    expect((await restarted.getRepeatableJobs()).map((job) => job.cron)).toEqual(['30 4 * * *']);
  });

  it('removes the next firing of a backup schedule as versions before 2026-12-03 made it (":" in its job id)', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    const old = start(prefix);
    const repeat = { cron: '0 3 * * *', tz: 'Etc/UTC' };
    await old.add('backup', {}, { repeat, jobId: 'backup:retry-5x65000ms', attempts: 5 });

    stopRecurring(start(prefix), 'backup', quiet);
    await until(async () => (await old.getDelayed()).length === 0);

    expect((await old.getDelayed()).map((job) => job.opts.repeat)).toEqual([]);
  });

  it('leaves no firing behind when a job that retries is switched off', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    const retry = { attempts: 5, delayMs: 65_000 };
    runRecurring(start(prefix), { name: 'backup', cron: '0 3 * * *', handler: idle, retry }, quiet);
    const restarted = start(prefix);
    await until(async () => (await restarted.getDelayed()).length > 0);

    stopRecurring(restarted, 'backup', quiet);
    await until(async () => (await restarted.getDelayed()).length === 0);

    expect(await restarted.getRepeatableJobs()).toEqual([]);
    expect((await restarted.getDelayed()).map((job) => job.opts.repeat)).toEqual([]);
  });

  it('removes the schedule of a job switched off, and only that one', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    const first = start(prefix);
    runRecurring(first, { name: 'backup', cron: '0 3 * * *', handler: idle }, quiet);
    runRecurring(first, { name: 'other', everyMs: 60_000, handler: idle }, quiet);
    const restarted = start(prefix);
    await until(async () => (await restarted.getRepeatableJobs()).length === 2);

    stopRecurring(restarted, 'backup', quiet);
    await until(async () => (await restarted.getRepeatableJobs()).length < 2);

    expect((await restarted.getRepeatableJobs()).map((job) => job.name)).toEqual(['other']);
    expect((await restarted.getDelayed()).map((job) => job.name)).toEqual(['other']);
  });

  it('puts back a schedule Redis lost (a restart without persistence) once two checks found it missing', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    const queue = start(prefix);
    runRecurring(queue, { name: 'flush', everyMs: 60_000, handler: idle }, quiet, { checkEveryMs: 200 });
    await until(async () => (await queue.getDelayed()).length > 0);

    // What a Redis that comes back empty leaves of this queue: nothing.
    await queue.client.del(...(await queue.client.keys(`${prefix}:*`)));
    expect(await queue.getRepeatableJobs()).toEqual([]);
    await until(async () => (await queue.getDelayed()).length > 0);

    expect((await queue.getRepeatableJobs()).map((job) => [job.name, Number(job.every)])).toEqual([['flush', 60_000]]);
    expect((await queue.getDelayed()).map((job) => job.name)).toEqual(['flush']);
  });

  it('leaves the schedule that a worker started since put in place of its own', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    const first = start(prefix);
    runRecurring(first, { name: 'warm', everyMs: 300_000, handler: idle }, quiet, { checkEveryMs: 100 });
    await until(async () => (await first.getRepeatableJobs()).length > 0);

    const restarted = start(prefix);
    runRecurring(restarted, { name: 'warm', everyMs: 60_000, handler: idle }, quiet);
    await until(async () => (await restarted.getRepeatableJobs()).some((job) => Number(job.every) === 60_000));
    await new Promise((resolve) => setTimeout(resolve, 600));

    expect((await restarted.getRepeatableJobs()).map((job) => Number(job.every))).toEqual([60_000]);
  });

  it('puts its own schedule in place once Redis answers, when Redis could not be reached as it started', async () => {
    const prefix = `vesta-test-recurring-${randomUUID()}`;
    const earlier = start(prefix);
    runRecurring(earlier, { name: 'warm', everyMs: 300_000, handler: idle }, quiet);
    await until(async () => (await earlier.getRepeatableJobs()).length > 0);

    // The restarted worker reaches Redis through a port that refuses connections at first (Redis down, or not
    // reachable from its pod), while Redis keeps the earlier schedule. Its commands are given up after one
    // reconnection, as Bull's client gives them up after twenty (about 4 minutes), and it reconnects every 100 ms.
    const port = await freeRestartablePort();
    const redis = { host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 100 };
    const restarted = start(prefix, { redis });
    const warnings: string[] = [];
    const logger = { log: () => undefined, warn: (line: string) => warnings.push(line) } as never;
    runRecurring(restarted, { name: 'warm', everyMs: 60_000, handler: idle }, logger, { checkEveryMs: 200 });
    await expect
      .poll(() => warnings.join('\n'), { timeout: 15_000, interval: 100 })
      .toMatch(/^Could not schedule warm/);

    const relay = await relayToRedis(port);
    try {
      await until(async () => (await earlier.getRepeatableJobs()).some((job) => Number(job.every) === 60_000));
      await new Promise((resolve) => setTimeout(resolve, 600));

      // The last worker to start decides, as when Redis answered at its start.
      expect((await earlier.getRepeatableJobs()).map((job) => Number(job.every))).toEqual([60_000]);
      expect(warnings).toContain('The schedule of warm is in place now that Redis answers');
    } finally {
      // Its queue closes (afterEach) while Redis can still be reached.
      await restarted.close();
      await relay.close();
    }
  });

  describe('a firing whose schedule is gone', () => {
    const firingOf = async (queue: Queue, cron: string) =>
      (await queue.getDelayed()).find((job) => job?.opts.repeat?.key?.endsWith(cron));
    const stateOf = async (queue: Queue, id: Bull.JobId) => (await queue.getJob(id))?.getState();

    /** A worker with the backup on, its handler recording the runs, and its own next firing moved to now. */
    async function startWorker(prefix: string) {
      const queue = start(prefix);
      const handler = vi.fn((job: Bull.Job) => Promise.resolve(job.opts.repeat?.key ?? 'no schedule'));
      runRecurring(queue, { name: 'backup', cron: '30 4 * * *', handler, runAtStart: true }, quiet);
      await until(async () => (await firingOf(queue, '30 4 * * *')) !== undefined);
      await (await firingOf(queue, '30 4 * * *'))!.promote();
      return { queue, handler };
    }

    it('is completed without running when it was made by a schedule with a ":" in its job id', async () => {
      const prefix = `vesta-test-recurring-${randomUUID()}`;
      const old = start(prefix);
      const repeat = { cron: '0 3 * * *', tz: 'Etc/UTC' };
      await old.add('backup', {}, { repeat, jobId: 'backup:retry-5x65000ms', attempts: 5 });
      const [schedule] = await old.getRepeatableJobs();
      // As versions before 2026-12-03 removed it: Bull misreads the key and leaves the firing in the delayed set.
      await old.removeRepeatableByKey(schedule.key);
      const stray = (await firingOf(old, '0 3 * * *'))!;
      await stray.promote();

      const { queue, handler } = await startWorker(prefix);
      await until(async () => handler.mock.calls.length === 2 && (await stateOf(queue, stray.id)) === 'completed');
      await new Promise((resolve) => setTimeout(resolve, 200));

      expect(await stateOf(queue, stray.id)).toBe('completed');
      const ran = handler.mock.calls.map(([job]) => job.opts.repeat?.key ?? 'no schedule');
      expect(ran.sort()).toEqual(['backup:backup::Etc/UTC:30 4 * * *', 'no schedule']);
    });

    it('is completed without running when it was already waiting as its schedule was switched off', async () => {
      const prefix = `vesta-test-recurring-${randomUUID()}`;
      const earlier = start(prefix);
      const repeat = { cron: '0 3 * * *', tz: 'Etc/UTC' };
      await earlier.add('backup', {}, { repeat, jobId: 'backup', attempts: 5 });
      const stray = (await firingOf(earlier, '0 3 * * *'))!;
      await stray.promote();
      // A worker started with the backup off removes the schedule; its firing, waiting already, stays.
      stopRecurring(start(prefix), 'backup', quiet);
      await until(async () => (await earlier.getRepeatableJobs()).length === 0);
      expect(await stateOf(earlier, stray.id)).toBe('waiting');

      const { queue, handler } = await startWorker(prefix);
      await until(async () => handler.mock.calls.length === 2 && (await stateOf(queue, stray.id)) === 'completed');
      await new Promise((resolve) => setTimeout(resolve, 200));

      expect(await stateOf(queue, stray.id)).toBe('completed');
      expect(await queue.getFailedCount()).toBe(0);
      const ran = handler.mock.calls.map(([job]) => job.opts.repeat?.key ?? 'no schedule');
      expect(ran.sort()).toEqual(['backup:backup::Etc/UTC:30 4 * * *', 'no schedule']);
    });
  });
});
