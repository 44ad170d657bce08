import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppProcess } from '../support/app-process.js';
import { freePort } from '../support/ports.js';
import { testEnv } from '../support/test-env.js';

/**
 * A failing readiness probe is an expected state (a MongoDB outage, a heap past MONITOR_MEMORY_RESTART_MB) that the
 * kubelet repeats every 2 s on every pod: its lines are warnings, never errors (docs/operations.md, Logs).
 */
describe('the log of a failing readiness probe', () => {
  let app: AppProcess;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // Readiness fails on the heap check whatever the database does: any heap is above 3 MB.
    app = AppProcess.spawn(
      testEnv({
        PORT: String(port),
        LOG_LEVEL: 'info',
        MONITOR_MEMORY_WARN_MB: '1',
        MONITOR_MEMORY_CRITICAL_MB: '2',
        MONITOR_MEMORY_RESTART_MB: '3',
      }),
    );
    const deadline = Date.now() + 30_000;
    const live = () =>
      fetch(`${url}/health/live`).then(
        (response) => response.status,
        () => 0,
      );
    while ((await live()) !== 200) {
      if (Date.now() > deadline) throw new Error(`app not live; stderr: ${app.stderr.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });

  afterAll(async () => {
    app.signal('SIGTERM');
    await app.exited;
  });

  it('names the failing check in a warning and writes no error line', async () => {
    const response = await fetch(`${url}/health/ready`);
    expect(response.status).toBe(503);
    const readinessLines = () => app.logLines().filter((line) => String(line.msg).includes('Health Check has failed'));
    // Lines are written in batches, at least once a second.
    await expect.poll(() => readinessLines().length, { timeout: 5_000 }).toBeGreaterThan(0);
    const [line, ...more] = readinessLines();
    expect(more).toEqual([]);
    expect(line).toMatchObject({ level: 40, context: 'Readiness' });
    expect(line.msg).toContain('memory_heap');
    expect(app.logLines().filter((line) => Number(line.level) >= 50)).toEqual([]);
  });
});
