import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validate } from '@readme/openapi-parser';
import { startApp, type RunningApp } from '../support/test-app.js';
import { AppProcess } from '../support/app-process.js';
import { freeRestartablePort } from '../support/ports.js';
import { testConfig, testEnv } from '../support/test-env.js';

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

  it('keeps the operationIds that generated clients name their methods after', async () => {
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    const ids = Object.fromEntries(
      Object.entries(document.paths).flatMap(([path, methods]) =>
        Object.entries(methods).map(([method, operation]) => [`${method} ${path}`, operation.operationId]),
      ),
    );
    // Swagger derives them from controller and method names: renaming a handler renames a client's method. A new
    // route adds its line here; changing a line is a breaking change for clients.
    expect(ids).toEqual({
      'get /health/live': 'HealthController_live',
      'get /health/ready': 'HealthController_ready',
      'post /v1/auth/register': 'AuthController_register_v1',
      'post /v1/auth/login': 'AuthController_login_v1',
      'post /v1/auth/logout': 'AuthController_logout_v1',
      'post /v1/auth/logout-all': 'AuthController_logoutEverywhere_v1',
      'post /v1/auth/password': 'AuthController_changePassword_v1',
      'post /v1/profiles': 'ProfilesController_create_v1',
      'get /v1/profiles': 'ProfilesController_search_v1',
      'get /v1/profiles/popular': 'ProfilesController_popular_v1',
      'get /v1/profiles/nearby': 'ProfilesController_nearby_v1',
      'get /v1/profiles/advanced': 'ProfilesController_advancedSearch_v1',
      'get /v1/profiles/me': 'ProfilesController_mine_v1',
      'get /v1/profiles/me/viewers': 'ProfilesController_viewers_v1',
      'get /v1/profiles/{id}': 'ProfilesController_get_v1',
      'patch /v1/profiles/{id}': 'ProfilesController_update_v1',
      'delete /v1/profiles/{id}': 'ProfilesController_remove_v1',
      'get /v1/locations/cities': 'LocationsController_cities_v1',
      'post /v1/batch': 'BatchController_run_v1',
      'get /v1/plans': 'SubscriptionsController_plans_v1',
      'post /v1/subscriptions': 'SubscriptionsController_subscribe_v1',
      'get /v1/subscriptions/me': 'SubscriptionsController_mine_v1',
      'post /v1/subscriptions/me/plan': 'SubscriptionsController_changePlan_v1',
      'post /v1/subscriptions/me/cancel': 'SubscriptionsController_cancel_v1',
      'post /v1/subscriptions/me/resume': 'SubscriptionsController_resume_v1',
      'post /v1/subscriptions/webhooks/{provider}': 'SubscriptionWebhooksController_receive_v1',
      'get /v1/admin/subscriptions': 'AdminSubscriptionsController_list_v1',
      'get /v1/admin/monitoring/summary': 'MonitoringController_summary_v1',
      'post /v1/media': 'MediaController_upload_v1',
      'get /v1/media/{id}': 'MediaController_download_v1',
      'head /v1/media/{id}': 'MediaController_downloadHead_v1',
      'delete /v1/media/{id}': 'MediaController_remove_v1',
      'post /v1/admin/backups': 'BackupsController_start_v1',
      'get /v1/admin/backups': 'BackupsController_list_v1',
    });
  });

  it('documents auth and error responses on every API operation', async () => {
    type Operation = {
      summary?: string;
      security?: Record<string, unknown>[];
      requestBody?: unknown;
      responses: Record<string, unknown>;
      'x-token-ignored'?: boolean;
    };
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
    // Public routes, the probes included, refuse a token that is sent and bad (README, "Errors"); a body that has not
    // all arrived by the deadline is a 408 (request-deadlines.ts), uploads included, and so is one sent to a write
    // that takes none (Fastify reads it all the same: a slow `{}` to POST /v1/auth/logout is a 408).
    const undocumented: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const unauthorized = operation.responses['401'] as { description?: string } | undefined;
        // No security, or `{}` among it: anonymous callers are let in (a token is optional).
        const isPublic = !operation.security?.length || operation.security.some((s) => Object.keys(s).length === 0);
        const readsToken = operation['x-token-ignored'] !== true;
        const badToken = unauthorized?.description?.includes('invalid, expired or revoked token') === true;
        // Login has a 401 of its own (wrong credentials), but none for the header it does not read.
        if (!readsToken && badToken) undocumented.push(`${method} ${path}: a 401 for a token it never reads`);
        if (isPublic && readsToken && !badToken) {
          undocumented.push(`${method} ${path}: 401 for a bad token`);
        }
        const readsBody = method !== 'get' && method !== 'head';
        if (readsBody && !('408' in operation.responses)) undocumented.push(`${method} ${path}: 408`);
      }
    }
    expect(undocumented).toEqual([]);
    expect(document.paths['/v1/media'].post.responses['408']).toBeDefined();
    expect(document.paths['/v1/auth/logout'].post.responses['408']).toBeDefined();
    expect(document.paths['/v1/auth/login'].post.responses['401']).toMatchObject({
      description: expect.stringContaining('Wrong email or password') as unknown,
    });
    // Routes that need a token say so.
    expect(document.paths['/v1/profiles'].post.security).toEqual([{ bearer: [] }]);
    expect(document.paths['/v1/profiles/{id}'].patch.security).toEqual([{ bearer: [] }]);
    // Public reads do not claim to need one.
    expect(document.paths['/v1/profiles/nearby'].get.security).toBeUndefined();
  });

  it('describes every error response as problem+json, as the routes send it', async () => {
    type Response = { content?: Record<string, unknown> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
    };
    const wrong: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        for (const [code, response] of Object.entries(operation.responses)) {
          if (code !== 'default' && Number(code) < 400) continue;
          const types = Object.keys(response.content ?? {});
          if (types.join() !== 'application/problem+json') wrong.push(`${method} ${path} ${code}: ${types.join()}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('types every route id as a 24-hex string, in the build that ships', async () => {
    type Parameter = { name: string; in: string; schema?: { type?: string; pattern?: string; $ref?: string } };
    // dist/, compiled by nest build: its decorator metadata (the handlers' ObjectId parameter types) differs from
    // what Vitest's transform emits, and Swagger reads it.
    const metricsPort = await freeRestartablePort();
    const { app, url } = await AppProcess.boot((port) =>
      testEnv({ PORT: String(port), METRICS_PORT: String(metricsPort) }),
    );
    let document: { paths: Record<string, Record<string, { parameters?: Parameter[] }>> };
    try {
      document = (await (await fetch(`${url}/docs/openapi.json`)).json()) as typeof document;
    } finally {
      app.signal('SIGTERM');
      await app.exited;
    }
    const ids = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).flatMap(([method, operation]) =>
        (operation.parameters ?? [])
          .filter((parameter) => parameter.in === 'path' && parameter.name === 'id')
          .map((parameter) => ({ operation: `${method} ${path}`, schema: parameter.schema })),
      ),
    );
    expect(ids.length).toBeGreaterThanOrEqual(5);
    for (const id of ids) {
      expect(id, id.operation).toEqual({
        operation: id.operation,
        schema: { type: 'string', pattern: '^[0-9a-fA-F]{24}$' },
      });
    }
  });

  it('documents the statuses the routes answer with', async () => {
    type Operation = { parameters?: unknown[]; requestBody?: unknown; responses: Record<string, unknown> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const codes = (method: string, path: string) => Object.keys(document.paths[path][method].responses);
    // Any query, header, path parameter or body can be invalid: a 400 (validation, input limits, a bad id); and every
    // /v1 route refuses query parameters it does not take, even one without input (decision 0027).
    const withoutBadRequest = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => path.startsWith('/v1/') || operation.parameters?.length || operation.requestBody)
        .filter(([, operation]) => !('400' in operation.responses))
        .map(([method]) => `${method} ${path}`),
    );
    expect(withoutBadRequest).toEqual([]);
    // A write without a request body refuses one that is sent (UnexpectedBodyGuard), and says so.
    const silentOnBody = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([method, operation]) => method !== 'get' && method !== 'head' && !operation.requestBody)
        .filter(([, operation]) => !JSON.stringify(operation.responses['400']).includes('a request body'))
        .map(([method]) => `${method} ${path}`),
    );
    expect(silentOnBody).toEqual([]);
    // And only such a write says so, once: not a read, nor a route that takes a body (AuthController and
    // ProfilesController declare their 400 once for all their routes).
    const refusedBody = 'a request body, which this route does not take';
    const saysNoBody = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([method, operation]) => {
          const says = JSON.stringify(operation.responses['400'] ?? {}).split(refusedBody).length - 1;
          return says !== (method !== 'get' && method !== 'head' && !operation.requestBody ? 1 : 0);
        })
        .map(([method]) => `${method} ${path}`),
    );
    expect(saysNoBody).toEqual([]);
    expect(codes('post', '/v1/auth/logout')).toContain('400');
    // The statuses these routes' services and guards send (profiles.service and the photos it checks with
    // media.service, media-quota, image-upload, byte ranges, subscriptions.service, idempotency.service,
    // webhook-signature.guard).
    const expected: Record<string, string[]> = {
      'post /v1/profiles': ['201', '403', '409', '422'],
      'patch /v1/profiles/{id}': ['200', '403', '404', '422'],
      'get /v1/profiles/me/viewers': ['200', '403', '404'],
      'post /v1/media': ['201', '400', '403', '413', '415'],
      'get /v1/media/{id}': ['200', '206', '304', '404', '412', '416'],
      'delete /v1/media/{id}': ['204', '403', '404'],
      'post /v1/subscriptions': ['201', '402', '409', '422'],
      'get /v1/subscriptions/me': ['200', '404'],
      'post /v1/subscriptions/me/plan': ['200', '402', '404', '409', '422'],
      'post /v1/subscriptions/me/cancel': ['200', '404', '409'],
      'post /v1/subscriptions/me/resume': ['200', '404', '409'],
      'post /v1/subscriptions/webhooks/{provider}': ['200', '404'],
    };
    // Swagger UI offers a file picker for the upload.
    expect(document.paths['/v1/media'].post.requestBody).toMatchObject({
      content: { 'multipart/form-data': { schema: { properties: { file: { type: 'string', format: 'binary' } } } } },
    });
    for (const [operation, statuses] of Object.entries(expected)) {
      const [method, path] = operation.split(' ');
      expect(codes(method, path), operation).toEqual(expect.arrayContaining(statuses));
    }
  });

  it('gives every success with a body a schema, and no field null (optional fields are left out)', async () => {
    type Response = { content?: Record<string, { schema?: unknown }> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
      components: { schemas: Record<string, unknown> };
    };
    const withoutSchema: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, { responses }] of Object.entries(methods)) {
        for (const [code, response] of Object.entries(responses)) {
          // 204 and 304 have no body; a HEAD answers with none.
          if (!/^2\d\d$/.test(code) || code === '204' || method === 'head') continue;
          const schemas = Object.values(response.content ?? {}).map((media) => media.schema);
          if (schemas.length === 0 || schemas.some((schema) => !schema))
            withoutSchema.push(`${method} ${path} ${code}`);
        }
      }
    }
    expect(withoutSchema).toEqual([]);
    expect(JSON.stringify(document)).not.toContain('"nullable"');
    expect(document.components.schemas.ProfilePageDto).toMatchObject({ required: ['items'] });
  });

  it('documents the 429 of every rate-limited operation, and only of those', async () => {
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const limited = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => '429' in operation.responses)
        .map(([method]) => `${method} ${path}`),
    );
    const all = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method} ${path}`),
    );
    // Every /v1 route but the payment webhooks is rate limited (README); the probes are not.
    expect(limited.sort()).toEqual(all.filter((op) => op.includes(' /v1/') && !op.includes('/webhooks/')).sort());
    expect(document.paths['/v1/plans'].get.responses['429']).toMatchObject({
      content: { 'application/problem+json': expect.any(Object) as unknown },
      headers: { 'Retry-After': expect.any(Object) as unknown },
    });
    for (const path of ['/v1/auth/login', '/v1/auth/password']) {
      expect(document.paths[path].post.responses['429']).toMatchObject({
        description: expect.stringContaining('too many wrong passwords for this account') as unknown,
        content: { 'application/problem+json': expect.any(Object) as unknown },
        headers: { 'Retry-After': expect.any(Object) as unknown },
      });
    }
  });

  it('documents the 503 of the routes that hash or check a password, with its Retry-After', async () => {
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    for (const path of ['/v1/auth/register', '/v1/auth/login', '/v1/auth/password']) {
      expect(document.paths[path].post.responses['503'], path).toMatchObject({
        description: expect.stringMatching(
          /^Too many password checks at once .*no answer within the deadline/,
        ) as unknown,
        content: { 'application/problem+json': expect.any(Object) as unknown },
        headers: { 'Retry-After': expect.any(Object) as unknown },
      });
    }
    expect(document.paths['/v1/auth/logout'].post.responses['503']).toMatchObject({
      description: expect.not.stringContaining('password') as unknown,
    });
  });

  it('documents the headers the answers carry: Retry-After on 503s, WWW-Authenticate on 401s, RateLimit-*', async () => {
    type Response = { headers?: Record<string, unknown> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
    };
    const rateLimitHeaders = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy'];
    const missing: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, { responses }] of Object.entries(methods)) {
        const lacks = (code: string, header: string) => {
          if (!responses[code]?.headers?.[header]) missing.push(`${method} ${path} ${code}: ${header}`);
        };
        // The problem filter gives every 503 a Retry-After (the readiness probe's own included), every 401 a challenge.
        lacks('503', 'Retry-After');
        if ('401' in responses) lacks('401', 'WWW-Authenticate');
        if (!('429' in responses)) continue;
        // A 503 after the rate-limit guard (the database, the password hashing) keeps them too.
        for (const code of Object.keys(responses).filter((c) => /^[23]\d\d$/.test(c) || ['429', '503'].includes(c))) {
          for (const header of rateLimitHeaders) lacks(code, header);
        }
      }
    }
    expect(missing).toEqual([]);
    // The probes and the payment webhooks are not rate limited, so they claim no RateLimit headers.
    expect(Object.keys(document.paths['/health/live'].get.responses['200'].headers ?? {})).toEqual([
      'Cache-Control',
      'ETag',
    ]);
    expect(document.paths['/v1/subscriptions/webhooks/{provider}'].post.responses['200'].headers).toBeUndefined();
  });

  it("documents every GET's ETag, its 304 to a matching If-None-Match and its 412 to a failed If-Match", async () => {
    type Response = { headers?: Record<string, unknown>; content?: unknown };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
    };
    const missing: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      const get = methods.get;
      if (!get) continue;
      const { responses } = get;
      if (!responses['304']) missing.push(`get ${path}: 304`);
      else if (responses['304'].content) missing.push(`get ${path}: a 304 has no body`);
      if (!responses['412']) missing.push(`get ${path}: 412`);
      for (const code of Object.keys(responses).filter((c) => /^2\d\d$/.test(c) || c === '304')) {
        if (!responses[code].headers?.ETag) missing.push(`get ${path} ${code}: ETag`);
      }
    }
    expect(missing).toEqual([]);
    // As the routes answer: a success carries an ETag, and sending it back gets a 304 without a body.
    // The probes too: the hooks that answer 304 and 412 run on every route.
    const paths = ['/v1/plans', '/v1/profiles/popular', '/v1/locations/cities', '/v1/profiles?limit=1', '/health/live'];
    for (const path of paths) {
      const first = await fetch(`${running.url}${path}`);
      const etag = first.headers.get('etag');
      expect({ path, status: first.status, etag: typeof etag }).toEqual({ path, status: 200, etag: 'string' });
      const again = await fetch(`${running.url}${path}`, { headers: { 'if-none-match': etag! } });
      expect({ path, status: again.status, body: await again.text() }).toEqual({ path, status: 304, body: '' });
      const refused = await fetch(`${running.url}${path}`, { headers: { 'if-match': '"another"' } });
      expect({ path, status: refused.status }).toEqual({ path, status: 412 });
    }
  });

  it("documents a media download's range and conditional headers, asked and answered, as the route uses them", async () => {
    type Operation = {
      parameters?: { name: string; in: string }[];
      responses: Record<string, { headers?: Record<string, unknown> }>;
    };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const download = document.paths['/v1/media/{id}'].get;
    const asked = (download.parameters ?? []).filter((parameter) => parameter.in === 'header').map((p) => p.name);
    expect(asked).toEqual(
      expect.arrayContaining([
        'Range',
        'If-Range',
        'If-Match',
        'If-Unmodified-Since',
        'If-None-Match',
        'If-Modified-Since',
      ]),
    );
    expect(download.responses['412']).toBeDefined();
    const answered = (status: string) => Object.keys(download.responses[status].headers ?? {});
    const validators = ['ETag', 'Last-Modified', 'Cache-Control'];
    expect(answered('200')).toEqual(expect.arrayContaining([...validators, 'Accept-Ranges', 'Content-Length']));
    expect(answered('206')).toEqual(expect.arrayContaining([...validators, 'Content-Range', 'Content-Length']));
    expect(answered('304')).toEqual(expect.arrayContaining(validators));
    expect(answered('416')).toContain('Content-Range');
  });

  it('documents the preconditions a media delete acts on', async () => {
    type Operation = { parameters?: { name: string; in: string }[] };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const asked = (document.paths['/v1/media/{id}'].delete.parameters ?? []).filter((p) => p.in === 'header');
    expect(asked.map((parameter) => parameter.name).sort()).toEqual([
      'If-Match',
      'If-None-Match',
      'If-Unmodified-Since',
    ]);
  });

  it('documents the preconditions a profile write acts on', async () => {
    type Operation = { parameters?: { name: string; in: string }[] };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    for (const method of ['patch', 'delete']) {
      const asked = (document.paths['/v1/profiles/{id}'][method].parameters ?? []).filter((p) => p.in === 'header');
      expect(asked.map((parameter) => parameter.name).sort(), method).toEqual([
        'If-Match',
        'If-None-Match',
        'If-Unmodified-Since',
      ]);
    }
  });

  it('describes every response, and no date precondition on a read that sends no Last-Modified', async () => {
    type Response = { description?: string; headers?: Record<string, unknown> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
    };
    const undescribed: string[] = [];
    const misleading: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, { responses }] of Object.entries(methods)) {
        const sendsLastModified = Object.values(responses).some((response) => response.headers?.['Last-Modified']);
        for (const [code, response] of Object.entries(responses)) {
          if (!response.description?.trim()) undescribed.push(`${method} ${path} ${code}`);
          // A read with no Last-Modified ignores the date preconditions (RFC 9110 §13.1.3, §13.1.4).
          if (method === 'get' && !sendsLastModified && /Modified/.test(response.description ?? '')) {
            misleading.push(`${method} ${path} ${code}`);
          }
        }
      }
    }
    expect({ undescribed, misleading }).toEqual({ undescribed: [], misleading: [] });
  });

  // Generated clients type a string with format date-time as a date; without it, as text to parse by hand.
  it('gives every timestamp of a schema the date-time format', async () => {
    type Schema = { type?: string; format?: string; example?: unknown; properties?: Record<string, Schema> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      components: { schemas: Record<string, Schema> };
    };
    const untyped: string[] = [];
    for (const [name, schema] of Object.entries(document.components.schemas))
      for (const [property, value] of Object.entries(schema.properties ?? {})) {
        const timestamp =
          /(?:At|PeriodStart|PeriodEnd|^at)$/.test(property) ||
          (typeof value.example === 'string' && /^\d{4}-\d\d-\d\dT/.test(value.example));
        if (timestamp && value.type === 'string' && value.format !== 'date-time') untyped.push(`${name}.${property}`);
      }
    expect(untyped).toEqual([]);
  });

  it('documents the HEAD of a media download without a Range, which a HEAD ignores', async () => {
    type Operation = { parameters?: { name: string; in: string }[]; responses: Record<string, unknown> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const head = document.paths['/v1/media/{id}'].head;
    const asked = (head.parameters ?? []).filter((parameter) => parameter.in === 'header').map((p) => p.name);
    expect(asked).toEqual(expect.arrayContaining(['If-Match', 'If-None-Match']));
    expect(asked).not.toContain('Range');
    expect(asked).not.toContain('If-Range');
    expect(Object.keys(head.responses)).toEqual(expect.arrayContaining(['200', '304', '404', '412']));
    expect(Object.keys(head.responses)).not.toContain('206');
    expect(Object.keys(head.responses)).not.toContain('416');
    // The GET keeps them.
    expect(Object.keys(document.paths['/v1/media/{id}'].get.responses)).toEqual(expect.arrayContaining(['206', '416']));
  });

  it('marks the answers an Idempotency-Key replays with Idempotent-Replayed, successes and refusals', async () => {
    type Response = { headers?: Record<string, { schema?: unknown }> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
    };
    // The statuses idempotency.service stores as a key's answer (a success and the client errors of the operation).
    const replayed: Record<string, string[]> = {
      'post /v1/subscriptions': ['201', '402', '409', '422'],
      'post /v1/subscriptions/me/plan': ['200', '400', '402', '404', '409', '422'],
    };
    const missing = Object.entries(replayed).flatMap(([operation, statuses]) => {
      const [method, path] = operation.split(' ');
      const responses = document.paths[path][method].responses;
      return statuses
        .filter((status) => !responses[status]?.headers?.['Idempotent-Replayed'])
        .map((s) => `${operation} ${s}`);
    });
    expect(missing).toEqual([]);
    expect(document.paths['/v1/subscriptions'].post.responses['201'].headers).toMatchObject({
      Location: expect.any(Object) as unknown,
      'Idempotent-Replayed': { schema: { type: 'string', enum: ['true'] } },
    });
    // Routes without a key replay nothing.
    expect(document.paths['/v1/subscriptions/me/cancel'].post.responses['200'].headers).not.toHaveProperty(
      'Idempotent-Replayed',
    );
  });

  it('documents a token as optional where a route uses one if sent, as the README says', async () => {
    type Operation = { security?: unknown[]; responses: Record<string, unknown> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    // Anonymous, or a bearer token (passed to every item of a batch; shows hidden profiles to their owner).
    for (const [method, path] of [
      ['post', '/v1/batch'],
      ['get', '/v1/profiles/{id}'],
    ]) {
      const operation = document.paths[path][method];
      expect(operation.security, `${method} ${path}`).toEqual([{}, { bearer: [] }]);
      // A bad token is refused; a missing one is not.
      const unauthorized = operation.responses['401'] as { description: string };
      expect(unauthorized.description, `${method} ${path}`).toContain('invalid, expired or revoked token');
      expect(unauthorized.description, `${method} ${path}`).not.toMatch(/missing token/i);
    }
  });

  it('types every property of a schema: in itself, by a $ref, or in each branch it combines', async () => {
    type Schema = { type?: string; $ref?: string; allOf?: Schema[]; oneOf?: Schema[]; anyOf?: Schema[] };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      components: { schemas: Record<string, { properties?: Record<string, Schema> }> };
    };
    const typed = (schema: Schema): boolean =>
      Boolean(schema.type ?? schema.$ref) ||
      [schema.allOf, schema.oneOf, schema.anyOf].some((branches) => branches?.length && branches.every(typed));
    // Without a type a generated client takes anything: openapi-typescript made BatchItemDto.path `unknown`.
    const untyped = Object.entries(document.components.schemas).flatMap(([name, { properties = {} }]) =>
      Object.entries(properties)
        .filter(([, property]) => !typed(property))
        .map(([key]) => `${name}.${key}`),
    );
    expect(untyped).toEqual([]);
  });

  it('gives the body of a PATCH no defaults: a field left out keeps its value', async () => {
    type Schema = { $ref?: string; properties?: Record<string, { default?: unknown }> };
    const document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
      components: { schemas: Record<string, Schema> };
    };
    const resolved = (schema: Schema): Schema =>
      schema.$ref ? resolved(document.components.schemas[schema.$ref.split('/').pop() ?? '']) : schema;
    const defaults: string[] = [];
    for (const [path, { patch }] of Object.entries(document.paths)) {
      for (const { schema } of Object.values(patch?.requestBody?.content ?? {})) {
        for (const [key, property] of Object.entries(resolved(schema).properties ?? {})) {
          if ('default' in property) defaults.push(`patch ${path} ${key}: ${JSON.stringify(property.default)}`);
        }
      }
    }
    // A default says what the server takes for a field left out, and generated clients act on it (openapi-typescript
    // makes such a field required): `visibility: public` unhid a hidden profile for a client that filled it in.
    expect(defaults).toEqual([]);
  });

  it('serves Swagger UI at /docs', async () => {
    const response = await fetch(`${running.url}/docs`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('swagger-ui');
  });
});
