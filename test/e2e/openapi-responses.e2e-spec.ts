import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { login, registerAccount, uniqueEmail, type Account } from '../factories/accounts.js';
import { decodableImage } from '../factories/images.js';
import { createProfile, profileInput } from '../factories/profiles.js';
import { invalidExamples, OpenApiConformance, type OpenApiDocument } from '../support/openapi-conformance.js';
import {
  componentProperty,
  queryParameter,
  undocumentedLimits,
  validatedClasses,
  type InputDocument,
} from '../support/openapi-input-limits.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const ADMIN = { email: uniqueEmail('openapi-admin'), password: 'an-admin-password-long-enough' };
const WEBHOOK_SECRET = 'a-webhook-secret-of-at-least-32-characters';

/**
 * Number fields that may carry fractions, though the answers of this test happen to carry whole numbers (an idle
 * process has 0 % CPU and a 0 % error rate). Every other `type: number` field must carry a fraction somewhere here, or
 * be documented as an integer.
 */
const FRACTIONAL = [
  'CpuDto.percent',
  'RecentDto.errorRatePercent',
  'EventLoopDelayDto.mean',
  'EventLoopDelayDto.p99',
  'MemoryDto.heapUsedMb',
  'MemoryDto.heapTotalMb',
  'MemoryDto.rssMb',
];

/** The operation that reads each query DTO (`@Query()`): its parameters are the DTO's properties. */
const QUERIES: Record<string, [string, string]> = {
  SearchProfilesQuery: ['get', '/v1/profiles'],
  AdvancedSearchQuery: ['get', '/v1/profiles/advanced'],
  NearbyQuery: ['get', '/v1/profiles/nearby'],
  AdminSubscriptionsQuery: ['get', '/v1/admin/subscriptions'],
  MediaDownloadQuery: ['get', '/v1/media/{id}'],
};
/** Classes whose checks a body DTO inherits under another name: UpdateProfileDto extends PartialType(OmitType(...)). */
const COMPONENT_OF: Record<string, string> = {
  OmitCreateProfileDtoVisibility: 'UpdateProfileDto',
  PartialOmitCreateProfileDtoVisibility: 'UpdateProfileDto',
};
/** Classes with validation checks that no request reads: ADMIN_EMAIL's check (account-email.ts). */
const NOT_REQUEST_INPUT = ['AccountEmailInput'];

interface Call {
  account?: Account;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

/**
 * Calls real routes, successes and refusals, and holds every answer to the OpenAPI document the app serves: a
 * generated client decodes answers by those schemas, so a field, a type or a status they do not describe is a bug.
 */
describe('OpenAPI document against the answers the routes give', () => {
  let running: RunningApp;
  // Tight limits, for the refusals the defaults make hard to reach: body and file size, rate limit, readiness.
  let strict: RunningApp;
  const backupDir = join(tmpdir(), `vesta-openapi-backups-${randomUUID()}`);
  let conformance: OpenApiConformance;
  let document: OpenApiDocument & InputDocument;

  beforeAll(async () => {
    [running, strict] = await Promise.all([
      startApp(
        testConfig({
          ADMIN_EMAIL: ADMIN.email,
          ADMIN_PASSWORD: ADMIN.password,
          PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
          BACKUP_DIR: backupDir,
        }),
      ),
      startApp(
        testConfig({
          BODY_LIMIT_BYTES: '2048',
          MEDIA_MAX_BYTES: '4096',
          THROTTLE_ANONYMOUS_LIMIT: '2',
          MONITOR_MEMORY_WARN_MB: '1',
          MONITOR_MEMORY_CRITICAL_MB: '2',
          MONITOR_MEMORY_RESTART_MB: '3',
          PASSWORD_HASH_CONCURRENCY: '1',
          PASSWORD_HASH_QUEUE_LIMIT: '0',
        }),
      ),
    ]);
    document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as typeof document;
    conformance = new OpenApiConformance(document);
  });

  afterAll(async () => {
    await Promise.all([running?.close(), strict?.close()]);
    await rm(backupDir, { recursive: true, force: true });
  });

  /** One request to `path` (documented as `template`), its answer checked against the document; returns the body. */
  async function call(
    status: number,
    method: string,
    template: string,
    path: string,
    { account, json, body, headers }: Call = {},
    app = running,
  ): Promise<Record<string, unknown>> {
    const response = await fetch(`${app.url}${path}`, {
      method,
      headers: { ...(json !== undefined && { 'content-type': 'application/json' }), ...account?.auth, ...headers },
      body: json === undefined ? body : JSON.stringify(json),
    });
    const raw = Buffer.from(await response.arrayBuffer());
    const text = /json/.test(response.headers.get('content-type') ?? '') ? raw.toString('utf8') : raw.toString('hex');
    expect({ call: `${method} ${path}`, status: response.status }).toEqual({ call: `${method} ${path}`, status });
    conformance.check({ method, template, status, headers: response.headers, text });
    return (/json/.test(response.headers.get('content-type') ?? '') && text ? JSON.parse(text) : undefined) as never;
  }

  const upload = (bytes: Buffer, type = 'image/jpeg') => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type }), 'photo');
    return form;
  };

  it('describes the answers of the account, profile, batch and location routes', async () => {
    const registered = await call(201, 'POST', '/v1/auth/register', '/v1/auth/register', {
      json: { email: uniqueEmail('openapi'), password: 'correct horse battery staple' },
    });
    const email = (registered.user as { email: string }).email;
    await call(200, 'POST', '/v1/auth/login', '/v1/auth/login', {
      json: { email, password: 'correct horse battery staple' },
    });
    await call(409, 'POST', '/v1/auth/register', '/v1/auth/register', {
      json: { email, password: 'correct horse battery staple' },
    });
    await call(401, 'POST', '/v1/auth/login', '/v1/auth/login', { json: { email, password: 'not the password' } });
    await call(400, 'POST', '/v1/auth/register', '/v1/auth/register', { json: { email: 'nope', password: 'short' } });

    const changing = await registerAccount(running.url, 'openapi-password');
    const password = { currentPassword: changing.password, newPassword: 'another horse battery staple' };
    await call(403, 'POST', '/v1/auth/password', '/v1/auth/password', {
      account: changing,
      json: { ...password, currentPassword: 'not the password' },
    });
    await call(200, 'POST', '/v1/auth/password', '/v1/auth/password', { account: changing, json: password });
    const again = { authorization: `Bearer ${await login(running.url, changing.email, password.newPassword)}` };
    await call(204, 'POST', '/v1/auth/logout-all', '/v1/auth/logout-all', { headers: again });

    const owner = await registerAccount(running.url, 'openapi-owner');
    const viewer = await registerAccount(running.url, 'openapi-viewer');
    await call(404, 'GET', '/v1/profiles/me', '/v1/profiles/me', { account: owner });
    await call(401, 'GET', '/v1/profiles/me', '/v1/profiles/me');
    await call(401, 'GET', '/v1/profiles/popular', '/v1/profiles/popular', {
      headers: { authorization: 'Bearer not-a-token' },
    });
    const created = await call(201, 'POST', '/v1/profiles', '/v1/profiles', {
      account: owner,
      json: profileInput({ location: { city: 'Berlin', country: 'DE', lat: 52.5, lng: 13.4 } }),
    });
    await createProfile(running.url, viewer);
    const id = created.id as string;
    await call(409, 'POST', '/v1/profiles', '/v1/profiles', { account: owner, json: profileInput() });
    await call(400, 'POST', '/v1/profiles', '/v1/profiles', {
      account: viewer,
      json: { ...profileInput(), displayName: 'x', role: 'admin' },
    });
    await call(415, 'POST', '/v1/profiles', '/v1/profiles', {
      account: viewer,
      body: 'displayName=Ann',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    await call(200, 'GET', '/v1/profiles/me', '/v1/profiles/me', { account: owner });
    await call(200, 'GET', '/v1/profiles/{id}', `/v1/profiles/${id}`);
    await call(200, 'GET', '/v1/profiles/{id}', `/v1/profiles/${id}`, { account: owner });
    await call(200, 'GET', '/v1/profiles/{id}', `/v1/profiles/${id}`, { account: viewer });
    await call(404, 'GET', '/v1/profiles/{id}', `/v1/profiles/${'0'.repeat(24)}`);
    await call(412, 'GET', '/v1/profiles/{id}', `/v1/profiles/${id}`, { headers: { 'if-match': '"other"' } });
    await call(400, 'GET', '/v1/profiles/{id}', '/v1/profiles/not-an-id');
    await call(200, 'PATCH', '/v1/profiles/{id}', `/v1/profiles/${id}`, { account: owner, json: { bio: 'Hi.' } });
    await call(403, 'PATCH', '/v1/profiles/{id}', `/v1/profiles/${id}`, { account: viewer, json: { bio: 'Mine.' } });
    await call(200, 'GET', '/v1/profiles', '/v1/profiles?limit=1');
    await call(200, 'GET', '/v1/profiles', '/v1/profiles?city=Berlin&fields=displayName,age,location');
    await call(400, 'GET', '/v1/profiles', '/v1/profiles?limit=0&unknown=1');
    await call(200, 'GET', '/v1/profiles/popular', '/v1/profiles/popular');
    await call(200, 'GET', '/v1/profiles/nearby', '/v1/profiles/nearby?lat=52.52&lng=13.405&radiusKm=50');
    await call(200, 'GET', '/v1/locations/cities', '/v1/locations/cities');
    await call(200, 'POST', '/v1/batch', '/v1/batch', {
      json: {
        requests: [
          { method: 'GET', path: '/v1/plans' },
          { method: 'GET', path: `/v1/profiles/${id}` },
          { method: 'GET', path: `/v1/profiles/${'0'.repeat(24)}` },
        ],
      },
    });
    await call(400, 'POST', '/v1/batch', '/v1/batch', { json: { requests: [{ method: 'GET', path: '/v1/batch' }] } });
    const leaving = await registerAccount(running.url, 'openapi-leaving');
    const leavingPath = `/v1/profiles/${(await createProfile(running.url, leaving)).id}`;
    await call(403, 'DELETE', '/v1/profiles/{id}', leavingPath, { account: viewer });
    await call(415, 'DELETE', '/v1/profiles/{id}', leavingPath, {
      account: leaving,
      body: 'please',
      headers: { 'content-type': 'text/plain' },
    });
    await call(204, 'DELETE', '/v1/profiles/{id}', leavingPath, { account: leaving });
    await call(404, 'DELETE', '/v1/profiles/{id}', leavingPath, { account: leaving });
    await call(204, 'POST', '/v1/auth/logout', '/v1/auth/logout', { account: leaving });
    await call(401, 'GET', '/v1/profiles/me', '/v1/profiles/me', { account: leaving });
    expect(conformance.take()).toEqual([]);
  });

  it('describes the answers of the plan, subscription and webhook routes', async () => {
    const member = await registerAccount(running.url, 'openapi-subscriber');
    const { id } = await createProfile(running.url, member);
    // A signed-in view, so that the member's viewers list has someone in it.
    const viewer = await registerAccount(running.url, 'openapi-admirer');
    await createProfile(running.url, viewer);
    await call(200, 'GET', '/v1/profiles/{id}', `/v1/profiles/${id}`, { account: viewer });
    await call(200, 'GET', '/v1/plans', '/v1/plans');
    await call(404, 'GET', '/v1/subscriptions/me', '/v1/subscriptions/me', { account: member });
    // Plan required: the problem names the plan needed and the caller's.
    await call(403, 'GET', '/v1/profiles/advanced', '/v1/profiles/advanced', { account: member });
    await call(403, 'GET', '/v1/profiles/me/viewers', '/v1/profiles/me/viewers', { account: member });
    const key = `key-${randomUUID()}`;
    const subscribe = (json: object, idempotencyKey = key) => ({
      account: member,
      json,
      headers: { 'idempotency-key': idempotencyKey },
    });
    await call(402, 'POST', '/v1/subscriptions', '/v1/subscriptions', {
      ...subscribe({ plan: 'premium', paymentToken: 'tok_decline' }, `key-${randomUUID()}`),
    });
    await call(
      201,
      'POST',
      '/v1/subscriptions',
      '/v1/subscriptions',
      subscribe({ plan: 'premium', paymentToken: 'tok_a' }),
    );
    // The same key again: the stored answer, marked as replayed.
    await call(
      201,
      'POST',
      '/v1/subscriptions',
      '/v1/subscriptions',
      subscribe({ plan: 'premium', paymentToken: 'tok_a' }),
    );
    await call(
      422,
      'POST',
      '/v1/subscriptions',
      '/v1/subscriptions',
      subscribe({ plan: 'platinum', paymentToken: 'tok_a' }),
    );
    await call(409, 'POST', '/v1/subscriptions', '/v1/subscriptions', {
      ...subscribe({ plan: 'premium', paymentToken: 'tok_a' }, `key-${randomUUID()}`),
    });
    await call(400, 'POST', '/v1/subscriptions', '/v1/subscriptions', subscribe({ plan: 'gold' }, 'short'));
    await call(200, 'GET', '/v1/subscriptions/me', '/v1/subscriptions/me', { account: member });
    await call(200, 'GET', '/v1/profiles/advanced', '/v1/profiles/advanced?interestsAll=climbing&minViews=0', {
      account: member,
    });
    await call(200, 'GET', '/v1/profiles/me/viewers', '/v1/profiles/me/viewers', { account: member });
    // Refused by the service, so stored with its key: the retry gets it back, marked as replayed.
    const noToken = {
      account: member,
      json: { plan: 'platinum' },
      headers: { 'idempotency-key': `key-${randomUUID()}` },
    };
    await call(400, 'POST', '/v1/subscriptions/me/plan', '/v1/subscriptions/me/plan', noToken);
    await call(400, 'POST', '/v1/subscriptions/me/plan', '/v1/subscriptions/me/plan', noToken);
    await call(200, 'POST', '/v1/subscriptions/me/plan', '/v1/subscriptions/me/plan', {
      account: member,
      json: { plan: 'platinum', paymentToken: 'tok_b' },
      headers: { 'idempotency-key': `key-${randomUUID()}` },
    });
    await call(200, 'POST', '/v1/subscriptions/me/cancel', '/v1/subscriptions/me/cancel', { account: member });
    await call(200, 'POST', '/v1/subscriptions/me/resume', '/v1/subscriptions/me/resume', { account: member });
    await call(409, 'POST', '/v1/subscriptions/me/resume', '/v1/subscriptions/me/resume', { account: member });

    const event = JSON.stringify({
      id: `evt_${randomUUID()}`,
      type: 'invoice.payment_failed',
      data: { userId: member.userId },
    });
    const signed = { 'content-type': 'application/json', 'vesta-signature': sign(WEBHOOK_SECRET, event, now()) };
    const webhook = '/v1/subscriptions/webhooks/{provider}';
    await call(200, 'POST', webhook, '/v1/subscriptions/webhooks/fake', { body: event, headers: signed });
    await call(200, 'POST', webhook, '/v1/subscriptions/webhooks/fake', { body: event, headers: signed });
    const other = JSON.stringify({ id: `evt_${randomUUID()}`, type: 'customer.updated' });
    await call(200, 'POST', webhook, '/v1/subscriptions/webhooks/fake', {
      body: other,
      headers: { 'content-type': 'application/json', 'vesta-signature': sign(WEBHOOK_SECRET, other, now()) },
    });
    await call(400, 'POST', webhook, '/v1/subscriptions/webhooks/fake', {
      body: event,
      headers: { 'content-type': 'application/json' },
    });
    expect(conformance.take()).toEqual([]);
  });

  it('describes the answers of the media routes: upload, download, HEAD, ranges, conditions, delete', async () => {
    const owner = await registerAccount(running.url, 'openapi-media');
    const stranger = await registerAccount(running.url, 'openapi-stranger');
    const media = await call(201, 'POST', '/v1/media', '/v1/media', {
      account: owner,
      body: upload(await decodableImage(40, 30)),
    });
    const path = `/v1/media/${media.id as string}`;
    const download = await fetch(`${running.url}${path}`);
    await download.arrayBuffer();
    const etag = download.headers.get('etag')!;
    await call(200, 'GET', '/v1/media/{id}', path);
    await call(200, 'HEAD', '/v1/media/{id}', path);
    await call(206, 'GET', '/v1/media/{id}', path, { headers: { range: 'bytes=0-9' } });
    await call(304, 'GET', '/v1/media/{id}', path, { headers: { 'if-none-match': etag } });
    await call(412, 'GET', '/v1/media/{id}', path, { headers: { 'if-match': '"other"' } });
    await call(416, 'GET', '/v1/media/{id}', path, { headers: { range: 'bytes=999999-' } });
    await call(404, 'GET', '/v1/media/{id}', `/v1/media/${'0'.repeat(24)}`);
    await call(415, 'POST', '/v1/media', '/v1/media', {
      account: owner,
      body: new Uint8Array(await decodableImage(4, 4)),
      headers: { 'content-type': 'image/jpeg' },
    });
    await call(415, 'POST', '/v1/media', '/v1/media', {
      account: owner,
      body: upload(Buffer.from('<html></html>'), 'image/png'),
    });
    await call(403, 'DELETE', '/v1/media/{id}', path, { account: stranger });
    await call(204, 'DELETE', '/v1/media/{id}', path, { account: owner });
    await call(404, 'DELETE', '/v1/media/{id}', path, { account: owner });
    expect(conformance.take()).toEqual([]);
  });

  it('describes the answers of the admin routes', async () => {
    const admin = { authorization: `Bearer ${await login(running.url, ADMIN.email, ADMIN.password)}` };
    const member = await registerAccount(running.url, 'openapi-member');
    const asAdmin = { headers: admin };
    await call(200, 'GET', '/v1/admin/monitoring/summary', '/v1/admin/monitoring/summary', asAdmin);
    await call(403, 'GET', '/v1/admin/monitoring/summary', '/v1/admin/monitoring/summary', { account: member });
    await call(200, 'GET', '/v1/admin/subscriptions', '/v1/admin/subscriptions?limit=1', asAdmin);
    await call(202, 'POST', '/v1/admin/backups', '/v1/admin/backups', asAdmin);
    await call(409, 'POST', '/v1/admin/backups', '/v1/admin/backups', asAdmin);
    // The finished run, with its sizes, counts and durations.
    for (let attempt = 0; attempt < 120; attempt++) {
      const list = await call(200, 'GET', '/v1/admin/backups', '/v1/admin/backups', asAdmin);
      if ((list.items as { status: string }[])[0]?.status !== 'running') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(conformance.take()).toEqual([]);
  });

  it('describes the probes, and the refusals of body size, media type, rate limit, readiness and load', async () => {
    await call(200, 'GET', '/health/live', '/health/live');
    await call(200, 'GET', '/health/ready', '/health/ready');
    // The heap is above MONITOR_MEMORY_RESTART_MB (3 MB): readiness names the failing check.
    await call(503, 'GET', '/health/ready', '/health/ready', {}, strict);
    await call(413, 'POST', '/v1/auth/register', '/v1/auth/register', { json: { email: 'x'.repeat(4096) } }, strict);
    await call(
      415,
      'POST',
      '/v1/auth/logout',
      '/v1/auth/logout',
      { body: 'bye', headers: { 'content-type': 'text/plain' } },
      strict,
    );
    const member = await registerAccount(strict.url, 'openapi-strict');
    await call(
      413,
      'POST',
      '/v1/media',
      '/v1/media',
      { account: member, body: upload(await decodableImage(200, 200)) },
      strict,
    );
    // One password check at a time, none waiting: the rest of a burst is refused with a 503, after the rate-limit guard
    // counted it (so with its RateLimit headers).
    const burst = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const response = await fetch(`${strict.url}/v1/auth/password`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...member.auth },
          body: JSON.stringify({ currentPassword: 'not the password', newPassword: 'another horse battery staple' }),
        });
        const text = await response.text();
        conformance.check({
          method: 'POST',
          template: '/v1/auth/password',
          status: response.status,
          headers: response.headers,
          text,
        });
        return response.status;
      }),
    );
    expect(burst).toContain(503);
    // Anonymous callers get 2 requests here (registering above took some).
    for (let left = 2; left > 0 && (await fetch(`${strict.url}/v1/plans`)).status !== 429; left--);
    await call(429, 'GET', '/v1/plans', '/v1/plans', {}, strict);
    expect(conformance.take()).toEqual([]);
  });

  it("describes the problems Node's HTTP parser answers with, before any request exists", async () => {
    // A request line Fastify never gets (Content-Length and Transfer-Encoding both): the 400 every /v1 operation
    // documents, written to the socket by clientErrorHandler.
    const answer = await new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = connect(Number(new URL(running.url).port), '127.0.0.1', () =>
        socket.write(
          'POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
        ),
      );
      socket.on('data', (data: Buffer) => (received += data.toString()));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    const [head, text] = answer.split('\r\n\r\n');
    const [statusLine, ...fields] = head.split('\r\n');
    const headers = new Headers(fields.map((field) => field.split(/:\s*/, 2) as [string, string]));
    const status = Number(statusLine.split(' ')[1]);
    conformance.check({ method: 'POST', template: '/v1/auth/login', status, headers, text });
    expect({ status, problems: conformance.take() }).toEqual({ status: 400, problems: [] });
  });

  it('documents the limits request validation holds bodies and queries to (class-validator checks)', () => {
    const gaps: string[] = [];
    const unchecked: string[] = [];
    for (const type of validatedClasses()) {
      const query = QUERIES[type.name];
      const component = COMPONENT_OF[type.name] ?? type.name;
      if (query) gaps.push(...undocumentedLimits(type, queryParameter(document, ...query)));
      else if (document.components.schemas[component]) {
        gaps.push(...undocumentedLimits(type, componentProperty(document, component)));
      } else if (!NOT_REQUEST_INPUT.includes(type.name)) unchecked.push(type.name);
    }
    expect(unchecked).toEqual([]);
    expect(gaps).toEqual([]);
  });

  it('gives examples that are valid for their own schemas', () => {
    expect(invalidExamples(document)).toEqual([]);
  });

  it('types as integers the number fields that only ever carry whole numbers', () => {
    expect(conformance.wholeNumberFields(FRACTIONAL)).toEqual([]);
  });

  const now = () => Math.floor(Date.now() / 1000);
});
