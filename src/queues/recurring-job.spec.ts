import type { Job, Queue } from 'bull';
import { describe, expect, it, vi } from 'vitest';
import { runRecurring } from './recurring-job.js';

describe('runRecurring', () => {
  it('logs a processor that stops with the connection instead of leaving an unhandled rejection', async () => {
    const queue = {
      process: vi.fn(() => Promise.reject(new Error('Connection is closed.'))),
      add: vi.fn(() => Promise.resolve()),
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
