import Bull from 'bull';
import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { MEDIA_QUEUE } from '../../src/media/media-variants.job.js';
import { AppProcess } from '../support/app-process.js';
import { testEnv } from '../support/test-env.js';

/**
 * A worker told to stop takes no new job during its drain (SHUTDOWN_DRAIN_MS): a job taken then had only the close's
 * bound left to finish, and one cut off there runs again on another worker once Bull sees it stalled.
 */
describe('a worker draining after SIGTERM', () => {
  it('takes no job added during the drain, which waits in the queue for another worker', async () => {
    const env = testEnv({ ROLE: 'worker', SHUTDOWN_DRAIN_MS: '5000', LOG_LEVEL: 'info' });
    const { app } = await AppProcess.boot((port) => ({ ...env, PORT: String(port) }));
    // The queue of the variants job, as a second process (the API) adds to it.
    const queue = new Bull(MEDIA_QUEUE, env.REDIS_URL, { prefix: `${env.REDIS_KEY_PREFIX}bull` });
    // A file that does not exist: the job has nothing to make and completes at once.
    const add = () => queue.add('variants', { mediaId: new Types.ObjectId().toHexString() });
    try {
      const before = await add();
      await expect.poll(() => before.getState(), { timeout: 15_000 }).toBe('completed');

      app.signal('SIGTERM');
      // Paused about 0.5 s after the signal (Bull first asks its blocking connection to quit); a job added before
      // could still be taken, one per queue at most.
      const paused = () => app.logLines().some((line) => /^Bull queues .* paused/.test(String(line.msg)));
      await expect.poll(paused, { timeout: 4_000 }).toBe(true);
      const during = await add();
      const exit = await app.exited;

      expect(exit.code).toBe(0);
      expect(await during.getState()).toBe('waiting');
    } finally {
      app.signal('SIGKILL');
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
