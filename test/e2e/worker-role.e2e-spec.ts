import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/** The contract's ROLE=worker: queue processors and schedules, and an HTTP port for the probes alone. */
describe('ROLE=worker', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig({ ROLE: 'worker' }));
  });

  afterAll(async () => {
    await running?.close();
  });

  it('answers the liveness and readiness probes', async () => {
    expect((await fetch(`${running.url}/health/live`)).status).toBe(200);
    expect((await fetch(`${running.url}/health/ready`)).status).toBe(200);
  });

  it.each([
    ['GET', '/v1/plans'],
    ['GET', '/v1/profiles/popular'],
    ['POST', '/v1/auth/register'],
    ['GET', '/docs/openapi.json'],
    ['GET', '/health/live/extra'],
  ])('refuses %s %s with a 404 problem naming the role', async (method, path) => {
    const response = await fetch(`${running.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(method === 'POST' && { body: JSON.stringify({ email: 'worker@example.test', password: 'long enough pw' }) }),
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await response.json()) as { status: number; detail: string; instance: string };
    expect(problem.status).toBe(404);
    expect(problem.detail).toContain('ROLE=worker');
    expect(problem.instance).toBe(path);
  });
});
