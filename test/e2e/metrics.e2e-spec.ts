import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

describe('Prometheus metrics', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig());
  });

  afterAll(async () => {
    await running.close();
  });

  it('serves Prometheus text on the metrics port', async () => {
    const response = await fetch(`${running.metricsUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(await response.text()).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('never serves metrics on the public port', async () => {
    const response = await fetch(`${running.url}/metrics`);
    expect(response.status).toBe(404);
  });
});
