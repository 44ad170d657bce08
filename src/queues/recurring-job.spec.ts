import type { Queue } from 'bull';
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
});
