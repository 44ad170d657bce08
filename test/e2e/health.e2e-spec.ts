import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerretDbProcess } from '../support/ferretdb-process.js';
import { wedgingMongoProxy } from '../support/stalling-proxy.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig, workerMongoUri } from '../support/test-env.js';

describe('health probes against a MongoDB-wire server that fails', () => {
  let ferret: FerretDbProcess;
  let running: RunningApp;

  const timedGet = async (path: string) => {
    const started = performance.now();
    const response = await fetch(`${running.url}${path}`);
    return { response, ms: performance.now() - started, body: (await response.json()) as Record<string, unknown> };
  };
  const isReady = async () => (await fetch(`${running.url}/health/ready`)).status === 200;

  beforeAll(async () => {
    ferret = await FerretDbProcess.start();
    running = await startApp(testConfig({ MONGODB_URI: ferret.uri, HEALTH_CHECK_TIMEOUT_MS: '1000' }));
  });

  afterAll(async () => {
    await running?.close();
    await ferret?.dispose();
  });

  it('is live and ready while the database answers', async () => {
    const live = await timedGet('/health/live');
    expect(live.response.status).toBe(200);
    const ready = await timedGet('/health/ready');
    expect(ready.response.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ok', checks: { mongodb: { status: 'up' } } });
  });

  // A probe is not a member: a monitor or gateway that adds credentials of its own must not turn liveness into a 401
  // (a restart loop), nor make it check a session in the database.
  it('answers the probes whatever Authorization header they carry, and documents no 401 for them', async () => {
    for (const authorization of ['Basic cHJvYmU6c2VjcmV0', 'Bearer not-a-jwt', 'Bearer a.b.c']) {
      for (const path of ['/health/live', '/health/ready']) {
        const response = await fetch(`${running.url}${path}`, { headers: { authorization } });
        expect(response.status, `${path} with ${authorization}`).toBe(200);
      }
    }
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, { get: { responses: Record<string, unknown> } }>;
    };
    expect(Object.keys(document.paths['/health/live'].get.responses)).not.toContain('401');
    expect(Object.keys(document.paths['/health/ready'].get.responses)).not.toContain('401');
  });

  it("tells caches on the way not to keep the probes' answers, so a green one cannot outlive an outage", async () => {
    for (const path of ['/health/live', '/health/ready']) {
      const response = await fetch(`${running.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('cache-control'), path).toMatch(/\bno-store\b/);
    }
  });

  it('turns readiness 503 within 2 s when the database hangs, stays live, and recovers', async () => {
    await ferret.freeze();
    try {
      const ready = await timedGet('/health/ready');
      expect(ready.response.status).toBe(503);
      expect(ready.response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(ready.body).toMatchObject({ status: 503, failing: ['mongodb'] });
      expect(ready.ms).toBeLessThan(2_000);
      expect((await timedGet('/health/live')).response.status).toBe(200);
    } finally {
      ferret.thaw();
    }
    await expect.poll(isReady, { timeout: 30_000, interval: 250 }).toBe(true);
  });

  it('turns readiness 503 within 2 s when the database is gone, and recovers when it returns', async () => {
    await ferret.kill();
    const ready = await timedGet('/health/ready');
    expect(ready.response.status).toBe(503);
    expect(ready.ms).toBeLessThan(2_000);
    expect((await timedGet('/health/live')).response.status).toBe(200);

    await ferret.start();
    await expect.poll(isReady, { timeout: 30_000, interval: 250 }).toBe(true);
  });
});

describe('readiness when the database is gone before the first probe', () => {
  let ferret: FerretDbProcess;
  let running: RunningApp;

  beforeAll(async () => {
    ferret = await FerretDbProcess.start();
    running = await startApp(testConfig({ MONGODB_URI: ferret.uri, MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1000' }));
  });

  afterAll(async () => {
    await running?.close();
    await ferret?.dispose();
  });

  // The readiness client connects on its first ping: when that first connection failed, the driver left it closed,
  // and readiness answered "Topology is closed" for good after the database came back.
  it('turns ready once the database returns, though its first probe could not connect', async () => {
    await ferret.kill();
    const ready = await fetch(`${running.url}/health/ready`);
    expect(ready.status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // past the first connection's server selection
    await ferret.start();
    await expect
      .poll(async () => (await fetch(`${running.url}/health/ready`)).status, { timeout: 30_000, interval: 250 })
      .toBe(200);
  });
});

describe('readiness against a database that answers ping but cannot read', () => {
  let proxy: Awaited<ReturnType<typeof wedgingMongoProxy>>;
  let running: RunningApp;

  beforeAll(async () => {
    proxy = await wedgingMongoProxy(workerMongoUri());
    running = await startApp(testConfig({ MONGODB_URI: proxy.uri, HEALTH_CHECK_TIMEOUT_MS: '1000' }));
  });

  afterAll(async () => {
    proxy?.unwedge();
    await running?.close();
    await proxy?.close();
  });

  // FerretDB answers ping from memory: with its PostgreSQL tables locked every query hung while a ping-only
  // readiness stayed 200, so the load balancer kept sending requests to pods that could serve none.
  it('turns readiness 503 in bounded time while reads hang, stays live, and recovers', async () => {
    expect((await fetch(`${running.url}/health/ready`)).status).toBe(200);
    proxy.wedge();
    try {
      const started = performance.now();
      const ready = await fetch(`${running.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ failing: ['mongodb'] });
      // The check's 1 s timeout, with room for a loaded CI machine: what matters is that it does not hang.
      expect(performance.now() - started).toBeLessThan(5_000);
      expect((await fetch(`${running.url}/health/live`)).status).toBe(200);
    } finally {
      proxy.unwedge();
    }
    await expect
      .poll(async () => (await fetch(`${running.url}/health/ready`)).status, { timeout: 15_000, interval: 250 })
      .toBe(200);
  });
});
