import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const sendBatch = (url: string, requests: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ requests }),
  });

describe('POST /v1/batch', () => {
  let running: RunningApp;
  let url: string;
  let owner: Account;
  let visibleId: string;
  let hiddenId: string;

  beforeAll(async () => {
    running = await startApp(testConfig());
    url = running.url;
    owner = await registerAccount(url, 'batch-owner');
    visibleId = (await createProfile(url, await registerAccount(url))).id;
    hiddenId = (await createProfile(url, owner, { visibility: 'hidden' })).id;
  });

  afterAll(async () => {
    await running.close();
  });

  const batch = (requests: unknown, headers: Record<string, string> = {}) => sendBatch(url, requests, headers);

  it('runs sub-requests in order and returns each status and body; one failure does not fail the others', async () => {
    const response = await batch([
      { method: 'GET', path: `/v1/profiles/${visibleId}` },
      { method: 'GET', path: '/v1/profiles/0123456789abcdef01234567' },
      { method: 'GET', path: '/v1/locations/cities' },
      { method: 'GET', path: '/v1/profiles/not-an-id' },
    ]);
    expect(response.status).toBe(200);
    const { responses } = (await response.json()) as { responses: { status: number; body: Record<string, unknown> }[] };
    expect(responses.map((r) => r.status)).toEqual([200, 404, 200, 400]);
    expect(responses[0].body).toMatchObject({ id: visibleId, displayName: 'Ann' });
    expect(responses[1].body).toMatchObject({ title: 'Not Found', status: 404 });
    expect(Array.isArray(responses[2].body)).toBe(true);
  });

  // Only status and body until 2026-12-08: nothing said when to retry a refused item or how long to keep an answer.
  it("keeps the headers an item's client acts on: its validators and caching, and when to retry", async () => {
    const path = '/v1/locations/cities';
    const [alone, inBatch] = await Promise.all([fetch(`${url}${path}`), batch([{ method: 'GET', path }])]);
    const { responses } = (await inBatch.json()) as { responses: { headers: Record<string, string> }[] };
    expect(responses[0].headers).toEqual({
      etag: alone.headers.get('etag'),
      'cache-control': alone.headers.get('cache-control'),
    });
    expect(responses[0].headers.etag).toMatch(/^(W\/)?"/);
  });

  it('gives each item the request id <batch request id>.<index>, also for the longest id a caller may send', async () => {
    const id = `trace-${'a'.repeat(122)}`; // 128 characters, the most x-request-id takes
    const response = await batch([{ method: 'GET', path: '/v1/profiles/0123456789abcdef01234567' }], {
      'x-request-id': id,
    });
    expect(response.headers.get('x-request-id')).toBe(id);
    const { responses } = (await response.json()) as { responses: { status: number; body: { requestId?: string } }[] };
    expect(responses[0].status).toBe(404);
    expect(responses[0].body.requestId).toBe(`${id}.0`);
  });

  it("applies the caller's authentication to every sub-request", async () => {
    const path = `/v1/profiles/${hiddenId}`;
    // Several items, each needing the token: one item alone cannot tell "every" from "the first".
    const items = [
      { method: 'GET', path },
      { method: 'GET', path: '/v1/profiles/me' },
      { method: 'GET', path },
    ];
    const anonymous = (await (await batch(items)).json()) as { responses: { status: number }[] };
    expect(anonymous.responses.map((r) => r.status)).toEqual([404, 401, 404]);
    const asOwner = (await (await batch(items, owner.auth)).json()) as {
      responses: { status: number; body: { id?: string } }[];
    };
    expect(asOwner.responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(asOwner.responses.map((r) => r.body.id)).toEqual([hiddenId, hiddenId, hiddenId]);
    // An invalid token is refused up front, as it would be on each sub-request.
    expect((await batch([{ method: 'GET', path }], { authorization: 'Bearer a.b.c' })).status).toBe(401);
  });

  it('answers no-store, as its items may be personal answers that are no-store alone', async () => {
    const path = '/v1/profiles/me';
    const alone = await fetch(`${url}${path}`, { headers: owner.auth });
    expect(alone.headers.get('cache-control')).toBe('private, no-cache');
    const response = await batch(
      [
        { method: 'GET', path },
        { method: 'GET', path: '/v1/subscriptions/me' },
      ],
      owner.auth,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('private, no-store');
    expect(response.headers.get('vary')).toContain('authorization');
  });

  // encodeURIComponent leaves ' ( ) ! * as they are, and RFC 3986 allows them, with : @ / ?, in a query unencoded.
  it('runs an item whose query the route takes alone, written as encodeURIComponent writes it', async () => {
    const member = await registerAccount(url);
    const location = { city: "L'Aquila", country: 'IT', lat: 42.35, lng: 13.4 };
    const { id } = await createProfile(url, member, { location });
    const path = `/v1/profiles?city=${encodeURIComponent("L'Aquila")}`;
    expect(path).toBe("/v1/profiles?city=L'Aquila");
    const alone = await fetch(`${url}${path}`);
    expect(alone.status).toBe(200);
    const response = await batch([{ method: 'GET', path }]);
    expect(response.status).toBe(200);
    const { responses } = (await response.json()) as { responses: { status: number; body: unknown }[] };
    expect(responses[0]).toMatchObject({ status: 200, body: (await alone.json()) as unknown });
    expect(JSON.stringify(responses[0].body)).toContain(id);
  });

  it('refuses writes, foreign URLs, nested batches, media downloads, traversal and more than 20 items', async () => {
    for (const requests of [
      [{ method: 'POST', path: '/v1/profiles' }],
      [{ method: 'GET', path: 'http://evil.example/v1/profiles' }],
      [{ method: 'GET', path: '//evil.example/v1/profiles' }],
      [{ method: 'GET', path: '/v1/batch' }],
      // A file would be held whole in memory per item and returned mangled as text.
      [{ method: 'GET', path: '/v1/media/5f1d7f3a9b1e8a0012345678' }],
      [{ method: 'GET', path: '/v1/media/5f1d7f3a9b1e8a0012345678?variant=thumb' }],
      // The same, through segments that injection and routing resolve.
      [{ method: 'GET', path: '/v1/./media/5f1d7f3a9b1e8a0012345678' }],
      [{ method: 'GET', path: '/v1//media/5f1d7f3a9b1e8a0012345678' }],
      [{ method: 'GET', path: '/v1/profiles/./../batch' }],
      [{ method: 'GET', path: '/v1/./batch' }],
      [{ method: 'GET', path: '/v1/media/.' }],
      [{ method: 'GET', path: '/v1/../health/ready' }],
      // Percent-encoded, the same traversal and nesting: routing decodes them.
      [{ method: 'GET', path: '/v1/%2e%2e/health/ready' }],
      [{ method: 'GET', path: '/v1/%2E%2E/%2E%2E/docs/openapi.json' }],
      [{ method: 'GET', path: '/v1/%62atch' }],
      [[{ method: 'GET', path: '/v1/locations/cities' }]], // an item that is itself a list
      [{ method: 'GET', path: '/health/ready' }],
      Array.from({ length: 21 }, () => ({ method: 'GET', path: '/v1/locations/cities' })),
      [],
    ]) {
      const response = await batch(requests);
      expect({ requests: requests.length, status: response.status }).toEqual({
        requests: requests.length,
        status: 400,
      });
    }
  });
});

describe('POST /v1/batch and the rate limits', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig({ THROTTLE_ANONYMOUS_LIMIT: '30', THROTTLE_ANONYMOUS_TTL_S: '900' }));
  });

  afterAll(async () => {
    await running.close();
  });

  // The guard sets the batch's RateLimit headers before its items run, each counted on top of it: a client pacing
  // itself by them was told 29 requests were left when 9 were, and was refused on the 10th.
  it('tells what is left once its items were counted, so that a client keeping to it is not refused', async () => {
    const items = Array.from({ length: 20 }, () => ({ method: 'GET', path: '/v1/locations/cities' }));
    const response = await sendBatch(running.url, items);
    expect(response.status).toBe(200);
    const { responses } = (await response.json()) as { responses: { status: number }[] };
    expect(responses.every((item) => item.status === 200)).toBe(true);
    const remaining = Number(response.headers.get('ratelimit-remaining'));
    expect(remaining).toBe(9);
    expect(response.headers.get('ratelimit-policy')).toBe('30;w=900');
    const statuses = [];
    for (let i = 0; i < remaining; i += 1) statuses.push((await fetch(`${running.url}/v1/locations/cities`)).status);
    expect(new Set(statuses)).toEqual(new Set([200]));
  });
});

describe('POST /v1/batch items over the rate limit', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig({ THROTTLE_ANONYMOUS_LIMIT: '5', THROTTLE_ANONYMOUS_TTL_S: '900' }));
  });

  afterAll(async () => {
    await running.close();
  });

  it('answers each refused item with its Retry-After', async () => {
    const items = Array.from({ length: 8 }, () => ({ method: 'GET', path: '/v1/locations/cities' }));
    const response = await sendBatch(running.url, items);
    expect(response.status).toBe(200);
    const { responses } = (await response.json()) as {
      responses: { status: number; headers: Record<string, string> }[];
    };
    const refused = responses.filter((item) => item.status === 429);
    // The batch is the first of the 5; 4 items pass.
    expect(refused).toHaveLength(4);
    for (const item of refused) expect(Number(item.headers['retry-after'])).toBeGreaterThan(0);
  });
});
