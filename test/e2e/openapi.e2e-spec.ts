import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '@readme/openapi-parser';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

describe('OpenAPI document and Swagger UI', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig());
  });

  afterAll(async () => {
    await running.close();
  });

  it('serves a valid OpenAPI 3 document describing the health routes', async () => {
    const response = await fetch(`${running.url}/docs/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };

    expect(document.openapi).toMatch(/^3\./);
    const result = await validate(structuredClone(document) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result).toMatchObject({ valid: true, specification: 'OpenAPI' });
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/health/live', '/health/ready']));
  });

  it('gives every operation a summary', async () => {
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { summary?: string }>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        operation: `${method} ${path}`,
        summary: operation.summary,
      })),
    );
    expect(operations.filter((op) => !op.summary)).toEqual([]);
  });

  it('documents auth and error responses on every API operation', async () => {
    type Operation = { summary?: string; security?: unknown[]; responses: Record<string, unknown> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const problems: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, operation] of Object.entries(methods)) {
        const codes = Object.keys(operation.responses);
        if (!codes.some((code) => /^2\d\d$/.test(code))) problems.push(`${method} ${path}: no success response`);
        if (!codes.includes('default')) problems.push(`${method} ${path}: no default (problem) response`);
        if (!codes.includes('503')) problems.push(`${method} ${path}: no 503 (deadline, outage, overload)`);
        if (operation.security?.length && !codes.includes('401')) problems.push(`${method} ${path}: no 401`);
      }
    }
    expect(problems).toEqual([]);
    // Routes that need a token say so.
    expect(document.paths['/v1/profiles'].post.security).toEqual([{ bearer: [] }]);
    expect(document.paths['/v1/profiles/{id}'].patch.security).toEqual([{ bearer: [] }]);
    // Public reads do not claim to need one.
    expect(document.paths['/v1/profiles/nearby'].get.security).toBeUndefined();
  });

  it('serves Swagger UI at /docs', async () => {
    const response = await fetch(`${running.url}/docs`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('swagger-ui');
  });
});
