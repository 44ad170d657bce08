import type { Job, Queue } from 'bull';
import { describe, expect, it, vi } from 'vitest';
import { runRecurring } from './recurring-job.js';

describe('runRecurring', () => {
  it('logs a processor that stops with the connection instead of leaving an unhandled rejection', async () => {
    const queue = {
      process: vi.fn(() => Promise.reject(new Error('Connection is closed.'))),
      add: vi.fn(() => Promise.resolve()),
      on: vi.fn(), // the stalled-job and lock events processJobs logs
    } as unknown as Queue;
    const logger = { warn: vi.fn(), log: vi.fn() };

    runRecurring(queue, { name: 'sweep', everyMs: 1_000, handler: () => Promise.resolve() }, logger as never);
    await new Promise((resolve) => setImmediate(resolve));

    expect(logger.warn).toHaveBeenCalledWith('Processing of sweep jobs stopped: Connection is closed.');
  });

  it('logs a run that fails, and still fails it for Bull', async () => {
    let processor!: (job: Job) => Promise<unknown>;
    const queue = {
      name: 'profile-views',
      process: vi.fn((_name: string, _concurrency: number, handler: typeof processor) => {
        processor = handler;
        return new Promise(() => undefined);
      }),
      add: vi.fn(() => Promise.resolve()),
      on: vi.fn(), // the stalled-job and lock events processJobs logs
      getRepeatableJobs: vi.fn(() => Promise.resolve([])),
    } as unknown as Queue;
    const logger = { warn: vi.fn(), log: vi.fn(), error: vi.fn() };
    const handler = () => Promise.reject(new Error('MongoDB unreachable'));

    runRecurring(queue, { name: 'flush', everyMs: 1_000, handler }, logger as never);
    const job = { id: 'repeat:abc:1000', attemptsMade: 0, opts: {} } as unknown as Job;

    await expect(processor(job)).rejects.toThrow('MongoDB unreachable');
    expect(logger.error).toHaveBeenCalledWith(
      'profile-views job flush repeat:abc:1000 failed (attempt 1 of 1): MongoDB unreachable',
    );
  });
});

describe('runRecurring keeping its schedule', () => {
  it('adds it again only when two checks in a row find none, not in the gap of a restart replacing it', async () => {
    vi.useFakeTimers();
    try {
      // What Redis holds at each check: none (the gap while another worker replaces it), then the replacement; later
      // none twice (Redis lost its data).
      const seen = [[], [{ name: 'warm', every: 60_000 }], [], []];
      let reads = 0;
      const queue = {
        process: vi.fn(() => new Promise(() => undefined)),
        add: vi.fn(() => Promise.resolve()),
        on: vi.fn(), // the stalled-job and lock events processJobs logs
        // The first read is the start-up schedule's own.
        getRepeatableJobs: vi.fn(() => Promise.resolve(reads++ === 0 ? [] : (seen.shift() ?? []))),
      } as unknown as Queue;
      const logger = { warn: vi.fn(), log: vi.fn() };
      runRecurring(queue, { name: 'warm', everyMs: 300_000, handler: () => Promise.resolve() }, logger as never, {
        checkEveryMs: 100,
      });
      await vi.advanceTimersByTimeAsync(0);
      expect(queue.add).toHaveBeenCalledTimes(1);

      await vi.advanceTimersByTimeAsync(200); // missing, then the replacement: nothing added
      expect(queue.add).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(200); // missing twice: added again
      expect(queue.add).toHaveBeenCalledTimes(2);
      expect(logger.warn).toHaveBeenCalledWith('The schedule of warm was missing from Redis; added it again');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('runRecurring with a firing of a schedule that is gone', () => {
  const liveKey = 'backup:backup::Etc/UTC:30 4 * * *';
  const goneKey = 'backup:backup:retry-5x65000ms::Etc/UTC:0 3 * * *';

  function worker(getRepeatableJobs: () => Promise<unknown>) {
    let processor!: (job: Job) => Promise<unknown>;
    const queue = {
      name: 'backups',
      process: vi.fn((_name: string, _concurrency: number, handler: typeof processor) => {
        processor = handler;
        return new Promise(() => undefined);
      }),
      add: vi.fn(() => Promise.resolve()),
      on: vi.fn(), // the stalled-job and lock events processJobs logs
      getRepeatableJobs: vi.fn(getRepeatableJobs),
    } as unknown as Queue;
    const logger = { warn: vi.fn(), log: vi.fn(), error: vi.fn() };
    const handler = vi.fn(() => Promise.resolve('ran'));
    runRecurring(queue, { name: 'backup', cron: '30 4 * * *', handler }, logger as never);
    return { processor, handler, logger };
  }
  const firing = (key: string | undefined, attemptsMade = 0) =>
    ({ id: 'repeat:abc:1', name: 'backup', attemptsMade, opts: key ? { repeat: { cron: '', key } } : {} }) as Job;

  it('completes it without running the handler, and says so', async () => {
    const { processor, handler, logger } = worker(() => Promise.resolve([{ key: liveKey }]));

    await expect(processor(firing(goneKey))).resolves.toBeUndefined();

    expect(handler).not.toHaveBeenCalled();
    expect(logger.log).toHaveBeenCalledWith(
      `backups job backup repeat:abc:1 skipped: its schedule ${goneKey} no longer exists`,
    );
  });

  it('runs a firing of a live schedule, a run without a schedule (at start, by hand) and a retry', async () => {
    const { processor, handler } = worker(() => Promise.resolve([{ key: liveKey }]));

    await expect(processor(firing(liveKey))).resolves.toBe('ran');
    await expect(processor(firing(undefined))).resolves.toBe('ran');
    await expect(processor(firing(goneKey, 1))).resolves.toBe('ran');
    expect(handler).toHaveBeenCalledTimes(3);
  });

  it('runs the firing when Redis fails the check', async () => {
    const { processor, handler, logger } = worker(() => Promise.reject(new Error('Connection is closed.')));

    await expect(processor(firing(goneKey))).resolves.toBe('ran');

    expect(handler).toHaveBeenCalledOnce();
    expect(logger.warn).toHaveBeenCalledWith(
      'backups job backup repeat:abc:1 runs unchecked: its schedule could not be read: Connection is closed.',
    );
  });

  it('runs the firing when Redis does not answer the check in 5 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { processor, handler, logger } = worker(() => new Promise(() => undefined));

      const run = processor(firing(goneKey));
      await new Promise((resolve) => setImmediate(resolve));
      vi.advanceTimersByTime(5_000);

      await expect(run).resolves.toBe('ran');
      expect(handler).toHaveBeenCalledOnce();
      expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('no answer within 5000 ms'));
    } finally {
      vi.useRealTimers();
    }
  });
});
