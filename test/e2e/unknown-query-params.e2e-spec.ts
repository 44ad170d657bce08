import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, registerAccount, type Account } from '../factories/accounts.js';
import { decodableImage } from '../factories/images.js';
import { createProfile } from '../factories/profiles.js';
import { rawRequest } from '../support/raw-http.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const ADMIN = { email: `query-admin-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };
const PROBLEM_JSON = /^application\/problem\+json/;

/** The `errors` entry of a query parameter the route does not take: the same on routes with a query DTO and without. */
const refused = (...names: string[]) =>
  names.map((field) => ({ field, message: `property ${field} should not exist` }));

// Decision 0027: every /v1 route refuses query parameters it does not take, with a 400 problem naming them.
describe('unknown query parameters', () => {
  let running: RunningApp;
  let member: Account;
  let adminAuth: Record<string, string>;
  let profileId: string;
  let mediaId: string;

  beforeAll(async () => {
    running = await startApp(testConfig({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }));
    member = await registerAccount(running.url);
    adminAuth = { authorization: `Bearer ${await login(running.url, ADMIN.email, ADMIN.password)}` };
    profileId = (await createProfile(running.url, member)).id;
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(await decodableImage(16, 16))]), 'photo.jpg');
    const upload = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
    mediaId = ((await upload.json()) as { id: string }).id;
  });

  afterAll(() => running.close());

  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) => {
    const response = await fetch(`${running.url}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get('content-type') ?? '',
      body: (text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as {
        errors?: unknown;
      },
    };
  };

  it('refuses them with 400 naming each one, on routes with a query DTO and without', async () => {
    const cases: [string, string, Record<string, string>, string[]][] = [
      // With a query DTO (RequestValidationPipe).
      ['GET', '/v1/profiles?limt=5', {}, ['limt']],
      ['GET', '/v1/profiles/nearby?lat=52.5&lng=13.4&radius=5', {}, ['radius']],
      ['GET', `/v1/media/${mediaId}?variant=thumb&v=2`, {}, ['v']],
      ['GET', '/v1/admin/subscriptions?state=active', adminAuth, ['state']],
      // Named after Object.prototype's members, which class-validator's whitelist finds in any object.
      ['GET', '/v1/profiles?constructor=1&toString=2&__proto__=3', {}, ['constructor', 'toString', '__proto__']],
      // Deleted by Nest's ValidationPipe before the whitelist sees it.
      ['GET', '/v1/profiles/nearby?lat=52.5&lng=13.4&prototype=1', {}, ['prototype']],
      // Without one: public, signed-in, admin, with an id in the path, and writes.
      ['GET', '/v1/locations/cities?_=1733212800000', {}, ['_']],
      ['GET', '/v1/profiles/popular?limit=5', {}, ['limit']],
      ['GET', '/v1/plans?currency=EUR', {}, ['currency']],
      ['GET', `/v1/profiles/${profileId}?fields=bio&view=full`, {}, ['fields', 'view']],
      ['GET', '/v1/profiles/me?x=1', member.auth, ['x']],
      ['GET', '/v1/subscriptions/me?x=1', member.auth, ['x']],
      ['GET', '/v1/admin/monitoring/summary?window=5m', adminAuth, ['window']],
      ['GET', '/v1/admin/backups?limit=1', adminAuth, ['limit']],
      ['DELETE', `/v1/media/${mediaId}?force=true`, member.auth, ['force']],
    ];
    for (const [method, path, headers, names] of cases) {
      const answer = await call(method, path, headers);
      expect({ path, status: answer.status, type: answer.type }).toEqual({
        path,
        status: 400,
        type: expect.stringMatching(PROBLEM_JSON) as unknown,
      });
      expect({ path, errors: answer.body.errors }).toEqual({ path, errors: refused(...names) });
    }
    // The refused DELETE changed nothing.
    expect((await call('GET', `/v1/media/${mediaId}`)).status).toBe(200);
  });

  it('refuses them on writes, on the payment webhooks and on batch items too', async () => {
    const loginAnswer = await call('POST', '/v1/auth/login?remember=1', {}, { email: 'a@example.test', password: 'x' });
    expect([loginAnswer.status, loginAnswer.body.errors]).toEqual([400, refused('remember')]);
    const webhook = await call('POST', '/v1/subscriptions/webhooks/fake?token=abc', {}, {});
    expect([webhook.status, webhook.body.errors]).toEqual([400, refused('token')]);

    const batch = await call('POST', '/v1/batch?x=1', {}, { requests: [] });
    expect([batch.status, batch.body.errors]).toEqual([400, refused('x')]);
    const items = await call(
      'POST',
      '/v1/batch',
      {},
      {
        requests: [
          { method: 'GET', path: '/v1/locations/cities?page=2' },
          { method: 'GET', path: '/v1/locations/cities' },
        ],
      },
    );
    expect(items.status).toBe(200);
    const [bad, good] = (items.body as unknown as { responses: { status: number; body: { errors?: unknown } }[] })
      .responses;
    expect([bad.status, bad.body.errors, good.status]).toEqual([400, refused('page'), 200]);
  });

  it("refuses them on Fastify's automatic HEAD routes", async () => {
    for (const path of ['/v1/locations/cities?x=1', `/v1/profiles/${profileId}?x=1`, `/v1/media/${mediaId}?x=1`]) {
      const head = await rawRequest(`${running.url}${path}`, 'HEAD');
      expect({ path, status: head.status }).toEqual({ path, status: 400 });
      expect(head.headers['content-type']).toMatch(PROBLEM_JSON);
    }
  });

  it('checks the token first, as it does on routes with a query DTO', async () => {
    expect((await call('GET', '/v1/profiles/me?x=1')).status).toBe(401);
    expect((await call('GET', '/v1/admin/monitoring/summary?x=1', member.auth)).status).toBe(403);
    expect((await call('GET', '/v1/admin/subscriptions?x=1', member.auth)).status).toBe(403);
  });

  it('still answers routes called with only the parameters they take', async () => {
    expect((await call('GET', '/v1/profiles?limit=5&city=Berlin')).status).toBe(200);
    expect((await call('GET', `/v1/media/${mediaId}?variant=thumb`)).status).toBe(200);
    expect((await call('GET', '/v1/locations/cities')).status).toBe(200);
    expect((await call('GET', `/v1/profiles/${profileId}?`)).status).toBe(200);
  });

  it('leaves the probes and the OpenAPI document alone: tools add parameters there', async () => {
    expect((await call('GET', '/health/live?probe=kubelet')).status).toBe(200);
    expect((await call('GET', '/health/ready?timeout=1s')).status).toBe(200);
    expect((await call('GET', '/docs/openapi.json?v=2')).status).toBe(200);
  });
});
