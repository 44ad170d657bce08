import { afterEach, describe, expect, it } from 'vitest';
import { AppProcess } from '../support/app-process.js';
import { RedisProcess } from '../support/redis-process.js';
import { testEnv } from '../support/test-env.js';

/** How long each close step may take. */
const STEP_MS = 1_000;

/** SIGTERM while Redis accepts connections but answers nothing (SIGSTOP), or refuses them (stopped). */
describe('graceful shutdown with Redis stalled or gone', () => {
  let redis: RedisProcess | undefined;
  let app: AppProcess | undefined;

  afterEach(async () => {
    app?.signal('SIGKILL');
    await app?.exited;
    await redis?.stop();
    app = undefined;
    redis = undefined;
  });

  /** A process of `role` on a Redis of its own, half a second into its work (afterEach stops both). */
  const bootOnOwnRedis = async (role: string) => {
    const server = await RedisProcess.start();
    redis = server;
    const booted = await AppProcess.boot((port) =>
      testEnv({
        PORT: String(port),
        ROLE: role,
        REDIS_URL: server.url,
        LOG_LEVEL: 'info',
        SHUTDOWN_GRACE_MS: '20000',
        SHUTDOWN_STEP_TIMEOUT_MS: String(STEP_MS),
        // Jobs in flight and Bull's blocking connection waiting, as on a busy worker.
        VIEW_FLUSH_INTERVAL_MS: '200',
      }),
    );
    app = booted.app;
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { app: booted.app, redis: server };
  };

  it.each(['worker', 'all'])(
    'a %s process abandons the closes Redis does not answer, closes MongoDB and exits 0 long before the grace limit',
    async (role) => {
      const { app, redis } = await bootOnOwnRedis(role);
      await redis.freeze();

      const signalledAt = performance.now();
      app.signal('SIGTERM');
      const exit = await app.exited;

      expect(exit.code).toBe(0);
      // Each step that hangs waits at most its bound; the steps run one after the other, the queues together.
      expect(exit.at - signalledAt).toBeLessThan(8 * STEP_MS);
      const lines = app.logLines();
      const abandoned = lines.filter((line) => /did not close within 1000 ms: abandoned/.test(String(line.msg)));
      expect(abandoned.map((line) => line.msg).join('\n')).toMatch(/Bull queues/);
      expect(lines.some((line) => line.msg === 'MongoDB closed')).toBe(true);
      expect(lines.find((line) => String(line.msg).startsWith('Shutdown complete'))?.msg).toMatch(/abandoned: .*Bull/);
      expect(lines.some((line) => /forcing exit/.test(String(line.msg)))).toBe(false);
    },
  );

  // Redis gone rather than stalled (its pod restarting, or evicted with ours): Bull's close forces its blocking
  // connection to reconnect and leaves that attempt's rejection unhandled, which Node turns into an exit 1 that skipped
  // the remaining close steps (found by a probe helper).
  it.each(['worker', 'all'])('a %s process signalled while Redis refuses connections exits 0', async (role) => {
    const { app, redis } = await bootOnOwnRedis(role);
    await redis.stop();
    // Every connection has seen the refusal and is retrying.
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    app.signal('SIGTERM');
    const exit = await app.exited;

    expect(app.stderr.join('')).not.toMatch(/Error/);
    expect(exit.code).toBe(0);
    const lines = app.logLines();
    expect(lines.some((line) => line.msg === 'MongoDB closed')).toBe(true);
    expect(lines.some((line) => String(line.msg).startsWith('Shutdown complete'))).toBe(true);
  });
});
