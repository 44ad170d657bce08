import { afterEach, describe, expect, it } from 'vitest';
import { AppProcess } from '../support/app-process.js';
import { stallingMongoProxy } from '../support/stalling-proxy.js';
import { testEnv, workerMongoUri } from '../support/test-env.js';

describe('SIGTERM while Nest initialises the modules (after the connection, before listening)', () => {
  let app: AppProcess | undefined;
  afterEach(async () => {
    app?.signal('SIGKILL');
    await app?.exited;
    app = undefined;
  });

  it.each([
    ['the database answers again soon after the signal', 300],
    ['the database stays stalled', undefined],
  ])('exits 0 without error lines when %s', async (_, releaseAfterMs) => {
    // Holds MongoDB's answers from the unique-index check of onModuleInit (UniqueIndexes) on.
    const proxy = await stallingMongoProxy(workerMongoUri('_startsig'), 'createIndexes');
    try {
      app = AppProcess.spawn(testEnv({ LOG_LEVEL: 'info', MONGODB_URI: proxy.uri, SHUTDOWN_GRACE_MS: '15000' }));
      await proxy.stalled;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const signalledAt = performance.now();
      app.signal('SIGTERM');
      if (releaseAfterMs !== undefined) setTimeout(proxy.release, releaseAfterMs);
      const exit = await app.exited;
      const errors = app
        .logLines()
        .filter((line) => Number(line.level) >= 50)
        .map((line) => line.msg);
      expect({ code: exit.code, errors }).toEqual({ code: 0, errors: [] });
      expect(exit.at - signalledAt).toBeLessThan(15_000);
    } finally {
      await proxy.close();
    }
  });
});
