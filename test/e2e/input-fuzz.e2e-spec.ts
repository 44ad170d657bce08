import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { rawRequest, type RawReply } from '../support/raw-http.js';
import { startAppWithAdmin, type RunningApp } from '../support/test-app.js';

/**
 * Hostile input generated from the served OpenAPI document and beyond it, with a fixed seed and a bounded number of
 * runs, so a failure is the same on every machine. The rule it holds every operation to: bad input from a client is a
 * 4xx problem+json that says what is wrong (never a 500, never a bare error) and changes nothing.
 */
describe('hostile input (seeded fuzzing)', () => {
  const SECRET = 'a-webhook-secret-of-at-least-32-characters';
  const SEED = 20261207;
  const PROBLEM_JSON = /^application\/problem\+json/;
  let running: RunningApp;
  let admin: Account;
  let member: Account;
  let profileId: string;
  let document: { paths: Record<string, Record<string, Operation>> };

  interface Operation {
    parameters?: { name: string; in: string }[];
    requestBody?: unknown;
  }
  interface Attempt {
    method: string;
    path: string;
    headers: Record<string, string>;
    body?: string;
  }

  beforeAll(async () => {
    ({ running, admin } = await startAppWithAdmin('fuzz', { PAYMENT_WEBHOOK_SECRET: SECRET }));
    member = await registerAccount(running.url, 'fuzz');
    profileId = (await createProfile(running.url, member)).id;
    document = (await (await fetch(`${running.url}/docs/openapi.json`)).json()) as typeof document;
  });

  afterAll(() => running.close());

  const send = (attempt: Attempt): Promise<RawReply> =>
    rawRequest(`${running.url}${attempt.path}`, attempt.method, attempt.headers, attempt.body);

  /** A success, or a problem that says what is wrong (a HEAD answer has its type but no body). */
  const expectAnswered = (attempt: Attempt, reply: RawReply) => {
    const label = `${attempt.method} ${attempt.path.slice(0, 200)} ${JSON.stringify(attempt.headers).slice(0, 300)} ${
      attempt.body?.slice(0, 300) ?? ''
    }`;
    expect(reply.status, `${label} => ${reply.body.toString().slice(0, 300)}`).toBeLessThan(500);
    if (reply.status < 400) return;
    expect(reply.headers['content-type'], label).toMatch(PROBLEM_JSON);
    if (attempt.method !== 'HEAD') {
      expect((JSON.parse(reply.body.toString()) as { detail?: unknown }).detail, label).toEqual(expect.any(String));
    }
  };

  /** What a refused write must leave as it was: the member's profile and subscription as they read them. */
  const memberState = async () => {
    const read = async (path: string) =>
      (await rawRequest(`${running.url}${path}`, 'GET', member.auth)).body.toString();
    const state = `${await read('/v1/profiles/me')} ${await read('/v1/subscriptions/me')}`;
    // Views come from other requests' reads, flushed every few seconds: a flush may land between two reads.
    return state.replace(/"(lastActiveAt|requestId)":"[^"]*"|"views":\d+/g, '');
  };

  const strings = fc.constantFrom(
    ...['', ' ', '\u0000', 'a\u0000b', '\ud800', 'a\udc00b', '\u202e', '1e400', '-1e400', '-0', 'NaN', 'Infinity'],
    ...['0x10', ' 1', '1.5', '__proto__', 'constructor', '$gt', '{"$gt":""}', 'null', 'x'.repeat(5000)],
    ...['\u{1F600}'.repeat(60), '000000000000000000000000', '0x0123456789abcdef012345', '(a+)+$', '%', '%00'],
    ...['9007199254740993', '1e21', '99999999999999999999999'],
  );
  const numbers = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 0.5, 2 ** 31));
  const leaf = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    numbers,
    strings,
    fc.string({ unit: 'binary', maxLength: 20 }),
  );
  const keys = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.constantFrom('__proto__', 'constructor', 'prototype', '$where', 'a.b', '$set', 'toString', 'hasOwnProperty'),
  );
  const { value: hostile } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      leaf,
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(keys, tie('value'), { maxKeys: 3 }),
    ),
  }));
  const rawBodies = fc.constantFrom(
    ...['', 'null', '0', '"x"', '[]', '{', 'not json', '\u0000', '\ufeff{}', '{"a":1,"a":2}', '{"x":1e400}'],
    ...['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"x":"\\ud800"}'],
    '['.repeat(3000) + ']'.repeat(3000),
  );
  const contentTypes = fc.constantFrom(
    ...['application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1'],
    ...['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'APPLICATION/JSON'],
  );
  const headerValues = fc.constantFrom(
    ...['', 'x', '*', 'W/"x"', '"a", W/"b"', 'bytes=0-0', 'bytes=-1', 'bytes=5-1', 'bytes=0-1,2-3', 'bytes=abc'],
    ...['bytes=99999999999999999999-', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Mon, 32 Foo 99999 99:99:99 GMT', '-1'],
    ...['Bearer', 'Bearer x.y.z', 'Basic YTpi', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 't=1,v1=abc'],
    ...['t=99999999999999999999,v1=00', ','.repeat(100), 'x'.repeat(7000), '1.2.3.4, ::1, unknown', '12345678'],
  );
  const headerNames = fc.constantFrom(
    ...['authorization', 'if-none-match', 'if-match', 'if-modified-since', 'if-unmodified-since', 'range'],
    ...['if-range', 'idempotency-key', 'vesta-signature', 'x-forwarded-for', 'accept', 'x-request-id', 'expect'],
  );
  const headerSets = fc.dictionary(headerNames, headerValues, { maxKeys: 3 });
  /** Percent-encoded as a client would, or as UTF-8 bytes where encodeURIComponent refuses (lone surrogates). */
  const encoded = (text: string) => {
    if (text.includes('%')) return text;
    try {
      return encodeURIComponent(text);
    } catch {
      return [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
    }
  };
  const queryValues = fc.oneof(strings, fc.string({ maxLength: 12 }), fc.constantFrom('%E0%A4%A', '%ED%A0%80', ','));
  const ids = fc.oneof(strings, fc.string({ maxLength: 30 }), fc.stringMatching(/^[0-9a-f]{24}$/));
  const callers = fc.constantFrom('anonymous', 'member', 'admin');

  it('answers every documented operation, as anyone, with a problem and no change', async () => {
    /** Would end the member's sessions or change its password: a second account takes those. */
    const sessionChanging = /logout|password/;
    const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
    );
    // A backup runs for seconds and writes files: refusing its (empty) input is covered in backups.e2e-spec.ts.
    const fuzzed = operations.filter(({ method, path }) => `${method} ${path}` !== 'POST /v1/admin/backups');
    expect(fuzzed.length).toBeGreaterThan(30);
    for (const { path, method, operation } of fuzzed) {
      const caller = sessionChanging.test(path) ? await registerAccount(running.url, 'fuzz-sessions') : member;
      const queryNames = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      const query = fc
        .array(fc.tuple(fc.constantFrom(...queryNames, 'x', 'limit[]', '__proto__'), queryValues), { maxLength: 4 })
        .map((pairs) => pairs.map(([name, value]) => `${encoded(name)}=${encoded(value)}`).join('&'));
      const body =
        method === 'GET' || method === 'HEAD'
          ? fc.constant(undefined)
          : fc.oneof(
              fc.constant(undefined),
              rawBodies,
              hostile.map((value) => JSON.stringify(value) ?? ''),
            );
      const attempts = fc
        .record({ query, body, id: fc.option(ids), caller: callers, headers: headerSets, contentType: contentTypes })
        .map((drawn): Attempt => {
          const id = drawn.id === null ? undefined : encoded(drawn.id);
          const url = path.replace('{id}', id ?? profileId).replace('{provider}', id ?? 'fake');
          const auth = { anonymous: {}, member: caller.auth, admin: admin.auth }[drawn.caller];
          const headers: Record<string, string> = { ...drawn.headers, ...auth };
          if (drawn.body !== undefined) {
            headers['content-type'] = drawn.contentType;
            // Node sends a DELETE's body unframed otherwise: the server would read it as the next request.
            headers['content-length'] = String(Buffer.byteLength(drawn.body));
          }
          if (path.includes('webhooks') && drawn.body !== undefined && !drawn.headers['vesta-signature']) {
            headers['vesta-signature'] = sign(SECRET, drawn.body, Math.floor(Date.now() / 1000));
          }
          return { method, path: drawn.query ? `${url}?${drawn.query}` : url, headers, body: drawn.body };
        });
      await fc.assert(
        fc.asyncProperty(attempts, async (attempt) => {
          const writes = method !== 'GET' && method !== 'HEAD';
          const before = writes ? await memberState() : '';
          const reply = await send(attempt);
          expectAnswered(attempt, reply);
          if (writes && reply.status >= 400) expect(await memberState(), JSON.stringify(attempt)).toBe(before);
        }),
        { seed: SEED, numRuns: 20, endOnFailure: true },
      );
    }
    // About 10 s alone; over a minute beside the rest of the suite on two cores.
  }, 300_000);

  it('answers batches of hostile sub-requests item by item, each a success or a problem', async () => {
    const segment = fc.constantFrom(
      ...['profiles', 'me', 'popular', 'nearby', 'advanced', 'viewers', 'plans', 'subscriptions', 'locations'],
      ...['cities', 'admin', 'monitoring', 'summary', 'backups', 'webhooks', 'fake', 'x', '~', '-', 'ME'],
    );
    const queryName = fc.constantFrom(
      ...['city', 'country', 'gender', 'minAge', 'maxAge', 'interests', 'limit', 'cursor', 'fields', 'lat', 'lng'],
      ...['radiusKm', 'status', 'plan', 'interestsAll', 'minViews', 'x', '__proto__'],
    );
    const queryValue = fc.oneof(
      fc.stringMatching(/^[\w\-.~!$'()*+,:@/?]{0,12}$/),
      fc.constantFrom('%00', '%E0%A4%A', '%ED%A0%80', '%ff', '1e400', '-0', '%', ',,', 'displayName,,age'),
    );
    const subPath = fc
      .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(queryName, queryValue)))
      .map(([segments, pairs]) => {
        const query = pairs.map(([name, value]) => `${name}=${value}`).join('&');
        return `/v1/${segments.join('/')}${query ? `?${query}` : ''}`;
      });
    const batches = fc
      .tuple(fc.array(subPath, { minLength: 1, maxLength: 5 }), callers)
      .map(([paths, caller]): Attempt => ({
        method: 'POST',
        path: '/v1/batch',
        headers: {
          'content-type': 'application/json',
          ...{ anonymous: {}, member: member.auth, admin: admin.auth }[caller],
        },
        body: JSON.stringify({ requests: paths.map((path) => ({ method: 'GET', path })) }),
      }));
    await fc.assert(
      fc.asyncProperty(batches, async (attempt) => {
        const reply = await send(attempt);
        expectAnswered(attempt, reply);
        if (reply.status !== 200) return;
        const { responses } = JSON.parse(reply.body.toString()) as {
          responses: { status: number; body?: { detail?: unknown } }[];
        };
        for (const item of responses) {
          expect(item.status, `${attempt.body} => ${JSON.stringify(item)}`).toBeLessThan(500);
          if (item.status >= 400) expect(typeof item.body?.detail, attempt.body).toBe('string');
        }
      }),
      { seed: SEED, numRuns: 60, endOnFailure: true },
    );
  });

  it('refuses forged search cursors with a problem', async () => {
    const cursorContent = fc.oneof(
      hostile,
      fc.record(
        { v: fc.oneof(fc.constantFrom(1, 2), hostile), id: fc.oneof(fc.constant(profileId), hostile), s: hostile },
        { requiredKeys: [] },
      ),
    );
    const cursors = fc.oneof(
      cursorContent.map((content) => Buffer.from(JSON.stringify(content) ?? '').toString('base64url')),
      strings,
      fc.base64String({ maxLength: 200 }),
    );
    const lists = fc.constantFrom(
      '/v1/profiles?',
      '/v1/profiles/advanced?',
      '/v1/admin/subscriptions?',
      '/v1/profiles?limit=1&',
    );
    const attempts = fc.tuple(cursors, lists, callers).map(([cursor, list, caller]): Attempt => ({
      method: 'GET',
      path: `${list}cursor=${encoded(cursor)}`,
      headers: { anonymous: {}, member: member.auth, admin: admin.auth }[caller],
    }));
    await fc.assert(
      fc.asyncProperty(attempts, async (attempt) => expectAnswered(attempt, await send(attempt))),
      { seed: SEED, numRuns: 80, endOnFailure: true },
    );
  });
});
