import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount, uniqueEmail, type Account } from '../factories/accounts.js';
import { scrapedValue } from '../support/prometheus-text.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const DEADLINE_MS = 8_000;
const MAX_WAIT_MS = 1_000;

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
  contentType: string | null;
  body: { accessToken?: string; detail?: string };
}

// Two hashes at once, four callers waiting at most, a second of waiting at most; a burst far beyond that, like the
// probe's 130 logins at once. Unbounded, argon2 queued every hash on libuv's four threads and the late ones met the
// deadline (a 503 after DEADLINE_MS); bounded, the rest are refused at once and the admitted ones succeed.
/** Sends a login on a connection of its own and leaves the request open, for the test to drop. */
function openLogin(url: string, member: Account) {
  const body = JSON.stringify({ email: member.email, password: member.password });
  const sent = request(`${url}/v1/auth/login`, {
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  sent.on('error', () => undefined);
  sent.end(body);
  return sent;
}

/** Requests that left the hashing queue because their client did, as the problem filter counts them. */
const abandonedLogins = (metricsUrl: string) =>
  scrapedValue(metricsUrl, 'http_errors_total', { class: 'PasswordHashingAbandonedException', status_code: '503' });

describe('password hashing under a burst', () => {
  let running: RunningApp;
  let owner: Account;

  const send = async (path: string, body: object): Promise<Answer> => {
    const started = performance.now();
    const response = await fetch(`${running.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      ms: performance.now() - started,
      retryAfter: response.headers.get('retry-after'),
      contentType: response.headers.get('content-type'),
      body: (await response.json()) as Answer['body'],
    };
  };
  const refusals = async () =>
    (await scrapedValue(running.metricsUrl, 'password_hashing_refused_total', { reason: 'queue_full' })) +
    (await scrapedValue(running.metricsUrl, 'password_hashing_refused_total', { reason: 'wait_timeout' }));

  /** A refusal of the bound: a quick 503 problem with Retry-After, never the deadline's. */
  const expectQuickRefusal = (answer: Answer) => {
    expect(answer.retryAfter).toBe('5');
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(answer.body.detail).toBe('Too many password checks at once; retry in 5 s');
    // The wait allowed plus the account lookup, which FerretDB serves a burst one after another, slower still while
    // another test file loads it: before the deadline, whose 503 a login queued unbounded got after 8 s and more (the
    // detail above already tells the two apart; a 2 s margin failed once on a loaded machine, at 6.09 s).
    expect(answer.ms).toBeLessThan(DEADLINE_MS);
  };

  beforeAll(async () => {
    running = await startApp(
      testConfig({
        HANDLER_TIMEOUT_MS: String(DEADLINE_MS),
        PASSWORD_HASH_CONCURRENCY: '2',
        PASSWORD_HASH_QUEUE_LIMIT: '4',
        PASSWORD_HASH_MAX_WAIT_MS: String(MAX_WAIT_MS),
      }),
    );
    owner = await registerAccount(running.url, 'burst');
  });

  afterAll(async () => {
    await running.close();
  });

  it('answers 60 logins at once with quick 503s and Retry-After beyond the bound, and 200s for the admitted', async () => {
    const before = await refusals();
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => send('/v1/auth/login', { email: owner.email, password: owner.password })),
    );

    expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 503)).toEqual([]);
    const admitted = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 503);
    expect(admitted.length).toBeGreaterThanOrEqual(2);
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of admitted) expect(answer.body.accessToken).toEqual(expect.any(String));
    for (const answer of refused) expectQuickRefusal(answer);

    // Every refusal is counted, and nothing is left running or waiting: the next login is admitted at once.
    expect((await refusals()) - before).toBe(refused.length);
    expect(await scrapedValue(running.metricsUrl, 'password_hashing_in_flight', {})).toBe(0);
    expect(await scrapedValue(running.metricsUrl, 'password_hashing_waiting', {})).toBe(0);
    expect((await send('/v1/auth/login', { email: owner.email, password: owner.password })).status).toBe(200);
  });

  it('bounds registrations and the decoy check of unknown emails the same way, and a refused sign-up stores nothing', async () => {
    const emails = Array.from({ length: 30 }, () => uniqueEmail('burst'));
    const password = 'correct horse battery staple';
    const [registrations, unknown] = await Promise.all([
      Promise.all(emails.map((email) => send('/v1/auth/register', { email, password }))),
      Promise.all(Array.from({ length: 30 }, () => send('/v1/auth/login', { email: uniqueEmail(), password }))),
    ]);

    expect(registrations.filter((answer) => answer.status !== 201 && answer.status !== 503)).toEqual([]);
    expect(unknown.filter((answer) => answer.status !== 401 && answer.status !== 503)).toEqual([]);
    const refusedRegistrations = registrations.filter((answer) => answer.status === 503);
    const refusedLogins = unknown.filter((answer) => answer.status === 503);
    expect(refusedRegistrations.length).toBeGreaterThan(0);
    expect(refusedLogins.length).toBeGreaterThan(0);
    for (const answer of [...refusedRegistrations, ...refusedLogins]) expectQuickRefusal(answer);

    // A sign-up refused before its hash inserted nothing: retried, the email is free (201, not 409).
    const retried = emails[registrations.findIndex((answer) => answer.status === 503)];
    expect((await send('/v1/auth/register', { email: retried, password })).status).toBe(201);
  });

  it('takes a login whose client left out of the queue, so it holds no place a waiting member could have', async () => {
    // Two running and up to four waiting: the bound is full. Their clients give up (a mobile client's timeout, or a
    // flood that never waits for answers); kept, the waiters blocked the queue for MAX_WAIT_MS and then hashed for
    // nobody, while the members who did wait were refused at once.
    const abandoned = Array.from({ length: 6 }, () => openLogin(running.url, owner));
    const waiting = () => scrapedValue(running.metricsUrl, 'password_hashing_waiting', {});
    const left = () => abandonedLogins(running.metricsUrl);
    const leftBefore = await left();
    // Some wait, however many: all four at once lasts one hash only (about 100 ms), which a loaded machine's account
    // lookups, arriving one after another, did not always leave for the poll to see.
    await expect.poll(waiting, { timeout: 5_000, interval: 10 }).toBeGreaterThan(0);
    for (const sent of abandoned) sent.destroy();

    // Those waiting left the queue at once: kept, they would have been admitted one after another and hashed.
    await expect.poll(left, { timeout: MAX_WAIT_MS / 2, interval: 20 }).toBeGreaterThan(leftBefore);
    await expect.poll(waiting, { timeout: MAX_WAIT_MS / 2, interval: 20 }).toBe(0);
    const refusedBefore = await refusals();
    expect((await send('/v1/auth/login', { email: owner.email, password: owner.password })).status).toBe(200);
    // Leaving is not a refusal: nobody was answered 503.
    expect((await refusals()) - refusedBefore).toBe(0);
    await expect.poll(() => scrapedValue(running.metricsUrl, 'password_hashing_in_flight', {})).toBe(0);
  });
});

/** One hash at a time and nobody waiting, so that of logins sent together some are refused; `limits` as a test needs. */
const startOneHashAtATime = (limits: Record<string, string>) =>
  startApp(
    testConfig({
      PASSWORD_HASH_CONCURRENCY: '1',
      PASSWORD_HASH_QUEUE_LIMIT: '0',
      // The checks must be answered: on this shared machine a 50 ms stall would let attempts through unchecked.
      THROTTLE_REDIS_TIMEOUT_MS: '1000',
      ...limits,
    }),
  );

const loginStatus = async (url: string, email: string, password: string) =>
  (
    await fetch(`${url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    })
  ).status;

/** Sends `count` correct logins at once: some are admitted (200) and, the bound being one, the rest refused (503). */
async function refusedInBurst(url: string, member: Account, count: number): Promise<number> {
  const statuses = await Promise.all(
    Array.from({ length: count }, () => loginStatus(url, member.email, member.password)),
  );
  expect(statuses).toContain(200);
  expect(statuses.filter((status) => status !== 200 && status !== 503)).toEqual([]);
  // The hits go back once each reply has closed.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return statuses.filter((status) => status === 503).length;
}

// The strict failed-login limit: a member whose logins arrive together must not lock themself out because some were
// refused before their password was checked.
describe('password hashing refusals and the failed-login limit', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startOneHashAtATime({ THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '5' });
  });

  afterAll(async () => {
    await running.close();
  });

  it('does not count a login refused by the bound as a wrong password', async () => {
    const member = await registerAccount(running.url, 'burst');
    expect(await refusedInBurst(running.url, member, 5)).toBeGreaterThan(0);

    // All five wrong tries are still there, so the refusals above cost none.
    const wrong = [];
    for (let i = 0; i < 6; i += 1) {
      wrong.push(await loginStatus(running.url, member.email, 'not the password, but long enough'));
    }
    expect(wrong).toEqual([401, 401, 401, 401, 401, 429]);
  });
});

// The per-address attempts limit counts every attempt, answered or not; a refusal of the bound answered nothing, so a
// member's client retrying after Retry-After must not use the address's attempts up on refusals.
describe("password hashing refusals and the address's attempts limit", () => {
  const ATTEMPTS = 6;
  let running: RunningApp;

  beforeAll(async () => {
    running = await startOneHashAtATime({ THROTTLE_CREDENTIALS_LIMIT: String(ATTEMPTS) });
  });

  afterAll(async () => {
    await running.close();
  });

  it('gives a refused login its attempt back', async () => {
    // The sign-up is the address's first attempt, and the burst its other five: all within the limit.
    const member = await registerAccount(running.url, 'burst');
    const refused = await refusedInBurst(running.url, member, ATTEMPTS - 1);
    expect(refused).toBeGreaterThan(0);

    // Each refusal left its attempt: that many logins one after another, then the limit.
    const after = [];
    for (let i = 0; i <= refused; i += 1) after.push(await loginStatus(running.url, member.email, member.password));
    expect(after).toEqual([...Array<number>(refused).fill(200), 429]);
  });
});

// A client that gives up while its login waits for a slot (a mobile client's timeout during a burst) leaves the queue,
// and its password is never checked: like a refusal of the bound, it must not count as a wrong password. Kept, a member
// whose client timed out twice during a burst was refused their next, correct login for the whole window (429).
describe('password hashing: a login whose client left while it waited', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(
      testConfig({
        HANDLER_TIMEOUT_MS: '20000',
        PASSWORD_HASH_CONCURRENCY: '1',
        PASSWORD_HASH_QUEUE_LIMIT: '30',
        PASSWORD_HASH_MAX_WAIT_MS: '10000',
        THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '2',
        THROTTLE_REDIS_TIMEOUT_MS: '1000',
      }),
    );
  });

  afterAll(async () => {
    await running.close();
  });

  const waiting = () => scrapedValue(running.metricsUrl, 'password_hashing_waiting', {});
  const left = () => abandonedLogins(running.metricsUrl);

  it('gives back its failed-login hits, so the member still logs in', async () => {
    const member = await registerAccount(running.url, 'gave-up');
    // Sign-ups (which hash before reading anything) hold the one slot and fill the queue ahead of the member's logins
    // for a second or more.
    const ahead = Array.from({ length: 16 }, () => registerAccount(running.url, 'ahead').then(() => 201));
    await expect.poll(waiting, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(8);
    const leftBefore = await left();
    // As many as the limit allows: a third would be refused 429 at the limit, counting nothing.
    const gaveUp = [openLogin(running.url, member), openLogin(running.url, member)];
    await expect.poll(waiting, { timeout: 5_000, interval: 10 }).toBeGreaterThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const sent of gaveUp) sent.destroy();
    // Both left the queue: neither password was checked.
    await expect.poll(left, { timeout: 5_000, interval: 20 }).toBe(leftBefore + 2);
    expect(await Promise.all(ahead)).toEqual(Array<number>(16).fill(201));
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(await loginStatus(running.url, member.email, member.password)).toBe(200);
  });
});
