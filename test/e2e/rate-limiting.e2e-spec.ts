import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount, type Account } from '../factories/accounts.js';
import { RedisProcess } from '../support/redis-process.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const PUBLIC_READ = '/v1/locations/cities';

const countStatuses = (statuses: number[]) =>
  statuses.reduce<Record<number, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

describe('rate limiting across instances', () => {
  let apps: RunningApp[];

  beforeAll(async () => {
    // Two instances behind one "load balancer": the same Redis namespace, so they share counts.
    const prefix = `vesta-test-rl-${randomUUID().slice(0, 8)}:`;
    // Exactness needs Redis's answers: a 50 ms stall of this shared machine would count part of the burst in each
    // instance's memory (tested below), so Redis gets a second here.
    const config = testConfig({
      REDIS_KEY_PREFIX: prefix,
      THROTTLE_ANONYMOUS_LIMIT: '100',
      THROTTLE_REDIS_TIMEOUT_MS: '1000',
    });
    apps = [await startApp(config), await startApp(config)];
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('lets exactly 100 of 500 parallel requests through, spread over two instances', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 500 }, (_, i) => fetch(`${apps[i % 2].url}${PUBLIC_READ}`).then((r) => r.status)),
    );
    expect(countStatuses(statuses)).toEqual({ 200: 100, 429: 400 });
    for (const app of apps) {
      const metrics = await (await fetch(`${app.metricsUrl}/metrics`)).text();
      expect(Number(/^rate_limit_local_checks_total (\d+)/m.exec(metrics)?.[1])).toBe(0);
    }
  });
});

describe('rate-limit headers', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig({ THROTTLE_ANONYMOUS_LIMIT: '3', THROTTLE_ANONYMOUS_TTL_S: '900' }));
  });

  afterAll(async () => {
    await running.close();
  });

  it('sends the IETF RateLimit headers, then a 429 problem with Retry-After', async () => {
    const responses = [];
    for (let i = 0; i < 4; i += 1) responses.push(await fetch(`${running.url}${PUBLIC_READ}`));
    const [first, , third, fourth] = responses;

    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('3');
    expect(first.headers.get('ratelimit-remaining')).toBe('2');
    expect(Number(first.headers.get('ratelimit-reset'))).toBeGreaterThan(890);
    expect(Number(first.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(900);
    expect(first.headers.get('ratelimit-policy')).toBe('3;w=900');
    expect([...first.headers.keys()].filter((name) => name.startsWith('x-ratelimit'))).toEqual([]);
    expect(third.headers.get('ratelimit-remaining')).toBe('0');

    expect(fourth.status).toBe(429);
    expect(fourth.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(fourth.headers.get('ratelimit-remaining')).toBe('0');
    const problem = (await fourth.json()) as { status: number; detail: string };
    expect(problem.status).toBe(429);
    expect(problem.detail).toMatch(/at most 3 requests per 900 s/);
  });

  it('never limits health probes', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 10 }, () => fetch(`${running.url}/health/live`).then((r) => r.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([200]));
  });
});

describe('rate-limit tiers', () => {
  it('counts signed-in callers per account, each with the user limit', async () => {
    const running = await startApp(testConfig({ THROTTLE_USER_LIMIT: '4' }));
    try {
      const [alice, bob] = [await registerAccount(running.url), await registerAccount(running.url)];
      const read = (auth: Record<string, string>) =>
        fetch(`${running.url}${PUBLIC_READ}`, { headers: auth }).then((r) => r.status);
      const aliceStatuses = [];
      for (let i = 0; i < 5; i += 1) aliceStatuses.push(await read(alice.auth));
      expect(aliceStatuses).toEqual([200, 200, 200, 200, 429]);
      expect(await read(bob.auth)).toBe(200);
    } finally {
      await running.close();
    }
  });

  it('limits failed logins per account and all password attempts per client address', async () => {
    const running = await startApp(
      testConfig({ THROTTLE_CREDENTIALS_LIMIT: '3', THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '2' }),
    );
    const login = (email: string) =>
      fetch(`${running.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: 'wrong password, long enough' }),
      });
    const attempt = (email: string) => login(email).then((r) => r.status);
    try {
      // Two failed logins per account from this address (emails compared case-insensitively): the third try is
      // refused unchecked (test/e2e/login-lockout.e2e-spec.ts has the rest of the per-account limits).
      const target = `victim-${randomUUID().slice(0, 8)}@example.test`;
      expect([await attempt(target), await attempt(target)]).toEqual([401, 401]);
      const refused = await login(target.toUpperCase());
      expect(refused.status).toBe(429);
      // It used up the address's limit of 3 as well, but the headers describe the limit that refused it, as the body
      // does.
      expect(((await refused.json()) as { detail: string }).detail).toMatch(
        /^Too many wrong passwords for this account from this address: at most 2 per 900 s/,
      );
      expect(refused.headers.get('ratelimit-limit')).toBe('2');
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      expect(refused.headers.get('ratelimit-reset')).toBe(refused.headers.get('retry-after'));
      // Three per address over all accounts: a fourth attempt, on any account, is refused too.
      expect(await attempt(`other-${randomUUID().slice(0, 8)}@example.test`)).toBe(429);
    } finally {
      await running.close();
    }
  });

  it("counts password-change attempts per account, so one member cannot use up another's", async () => {
    const running = await startApp(testConfig({ THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '2' }));
    const attempt = (account: Account) =>
      fetch(`${running.url}/v1/auth/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...account.auth },
        body: JSON.stringify({ currentPassword: 'a wrong guess, long enough', newPassword: 'whatever comes next' }),
      }).then((r) => r.status);
    try {
      const [alice, bob] = [await registerAccount(running.url), await registerAccount(running.url)];
      expect([await attempt(alice), await attempt(alice), await attempt(alice)]).toEqual([403, 403, 429]);
      expect(await attempt(bob)).toBe(403);
    } finally {
      await running.close();
    }
  });
});

describe('the search tier', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig({ THROTTLE_SEARCH_LIMIT: '3' }));
  });

  afterAll(() => running.close());

  const status = (path: string, auth: Record<string, string> = {}) =>
    fetch(`${running.url}${path}`, { headers: auth }).then((r) => r.status);
  const NEARBY = '/v1/profiles/nearby?lat=52.52&lng=13.405';

  it('counts search and nearby together per account, leaving other reads and other accounts alone', async () => {
    const [alice, bob] = [await registerAccount(running.url), await registerAccount(running.url)];
    const first = await fetch(`${running.url}${NEARBY}`, { headers: alice.auth });
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-policy')).toBe('1000000;w=900, 3;w=900');
    expect(first.headers.get('ratelimit-remaining')).toBe('2');
    expect([await status('/v1/profiles?city=Berlin', alice.auth), await status(NEARBY, alice.auth)]).toEqual([
      200, 200,
    ]);

    const refused = await fetch(`${running.url}/v1/profiles?limit=5`, { headers: alice.auth });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/at most 3 requests per 900 s/);
    expect(await status(NEARBY, alice.auth)).toBe(429);

    expect(await status(PUBLIC_READ, alice.auth)).toBe(200);
    expect(await status(NEARBY, bob.auth)).toBe(200);
  });

  it('counts callers without a token per client address', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push(await status(`${NEARBY}&radiusKm=${i + 1}`));
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await status(PUBLIC_READ)).toBe(200);
  });
});

describe('Retry-After of a request one tier refused after another ran out', () => {
  it('covers the tier the refused request used up, so that a retry after it is not refused', async () => {
    // A short search window and a long general one. The refused search still counted against the general tier, as
    // every tier a request passes counts it, and took its last request.
    const running = await startApp(
      testConfig({
        THROTTLE_ANONYMOUS_LIMIT: '2',
        THROTTLE_ANONYMOUS_TTL_S: '900',
        THROTTLE_SEARCH_LIMIT: '1',
        THROTTLE_SEARCH_TTL_S: '60',
      }),
    );
    try {
      const nearby = '/v1/profiles/nearby?lat=52.52&lng=13.405';
      expect((await fetch(`${running.url}${nearby}`)).status).toBe(200);
      const refused = await fetch(`${running.url}${nearby}&radiusKm=2`);
      expect(refused.status).toBe(429);
      // Every request is now refused by the general tier for the rest of its window. Retry-After said 60 (the search
      // tier's), and a client that waited that long got another 429, with Retry-After: 840.
      const next = await fetch(`${running.url}${PUBLIC_READ}`);
      expect(next.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(
        Number(next.headers.get('retry-after')),
      );
      expect(refused.headers.get('ratelimit-reset')).toBe(refused.headers.get('retry-after'));
    } finally {
      await running.close();
    }
  });
});

describe('Retry-After of a request refused while a tier after the refusing one has run out', () => {
  it('covers that tier too, so that a retry after it is not refused by it', async () => {
    // A short general window and a long search one: the tiers are checked general first, and the refusal ends the
    // check, so the search tier is not counted; its count still decides when a search can pass again.
    const running = await startApp(
      testConfig({
        THROTTLE_ANONYMOUS_LIMIT: '2',
        THROTTLE_ANONYMOUS_TTL_S: '60',
        THROTTLE_SEARCH_LIMIT: '1',
        THROTTLE_SEARCH_TTL_S: '900',
      }),
    );
    try {
      const nearby = '/v1/profiles/nearby?lat=52.52&lng=13.405';
      const first = await fetch(`${running.url}${nearby}`);
      expect(first.status).toBe(200);
      // The search tier's window, as the first search was told it (the tier with the least remaining).
      const searchResetS = Number(first.headers.get('ratelimit-reset'));
      expect(searchResetS).toBeGreaterThan(800);
      expect((await fetch(`${running.url}${PUBLIC_READ}`)).status).toBe(200);

      const refused = await fetch(`${running.url}${nearby}&radiusKm=2`);
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/at most 2 requests per 60 s/);
      // Retry-After said 60 (the general tier's block), and a search retried then was refused by the search tier,
      // with Retry-After: 840.
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(60);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(searchResetS);
      expect(refused.headers.get('ratelimit-reset')).toBe(refused.headers.get('retry-after'));
      expect(refused.headers.get('ratelimit-limit')).toBe('2');
      expect(refused.headers.get('ratelimit-remaining')).toBe('0');
      expect(refused.headers.get('ratelimit-policy')).toBe('2;w=60, 1;w=900');

      // A read the search tier does not apply to waits for the general tier only.
      const read = await fetch(`${running.url}${PUBLIC_READ}`);
      expect(read.status).toBe(429);
      expect(Number(read.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(read.headers.get('ratelimit-policy')).toBe('2;w=60');
    } finally {
      await running.close();
    }
  });
});

describe('rate limiting switched off', () => {
  it('sends no RateLimit headers and refuses nothing with THROTTLE_ENABLED=false', async () => {
    const running = await startApp(testConfig({ THROTTLE_ENABLED: 'false', THROTTLE_ANONYMOUS_LIMIT: '1' }));
    try {
      const responses = [await fetch(`${running.url}${PUBLIC_READ}`), await fetch(`${running.url}${PUBLIC_READ}`)];
      expect(responses.map((r) => r.status)).toEqual([200, 200]);
      expect(responses[1].headers.get('ratelimit-limit')).toBeNull();
    } finally {
      await running.close();
    }
  });
});

describe('client address behind a proxy', () => {
  const hammer = async (running: RunningApp, forwardedFor: (i: number) => string) => {
    const statuses = [];
    for (let i = 0; i < 3; i += 1) {
      const response = await fetch(`${running.url}${PUBLIC_READ}`, { headers: { 'x-forwarded-for': forwardedFor(i) } });
      statuses.push(response.status);
    }
    return statuses;
  };

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const running = await startApp(testConfig({ THROTTLE_ANONYMOUS_LIMIT: '2', TRUST_PROXY: '10.0.0.1' }));
    try {
      expect(await hammer(running, (i) => `203.0.113.${i}`)).toEqual([200, 200, 429]);
    } finally {
      await running.close();
    }
  });

  it('counts each forwarded client separately when the peer is a trusted proxy', async () => {
    const running = await startApp(testConfig({ THROTTLE_ANONYMOUS_LIMIT: '2', TRUST_PROXY: '127.0.0.1' }));
    try {
      expect(await hammer(running, (i) => `203.0.113.${i}`)).toEqual([200, 200, 200]);
    } finally {
      await running.close();
    }
  });

  it('counts a forwarded address that carries a port (a new one per connection) as the address', async () => {
    const running = await startApp(testConfig({ THROTTLE_ANONYMOUS_LIMIT: '2', TRUST_PROXY: '127.0.0.1' }));
    try {
      // Azure Application Gateway writes the client's port too: each connection would otherwise be another client.
      expect(await hammer(running, (i) => `203.0.113.9:${50_000 + i}`)).toEqual([200, 200, 429]);
      expect(await hammer(running, (i) => `[2001:db8:1:2::${i + 1}]:${50_000 + i}`)).toEqual([200, 200, 429]);
    } finally {
      await running.close();
    }
  });

  it('with TRUST_PROXY=true counts the address the proxy added, not the ones the client put before it', async () => {
    const running = await startApp(testConfig({ THROTTLE_ANONYMOUS_LIMIT: '2', TRUST_PROXY: 'true' }));
    try {
      // A proxy that appends (nginx's $proxy_add_x_forwarded_for, cloud load balancers) keeps what the client sent.
      expect(await hammer(running, (i) => `198.51.100.${i}, 203.0.113.7`)).toEqual([200, 200, 429]);
    } finally {
      await running.close();
    }
  });
});

describe('rate limiting while Redis is down', () => {
  let redis: RedisProcess;
  let running: RunningApp;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    // A stopped Redis refuses at once; the second is for the checks once it is back, which must be answered there.
    running = await startApp(
      testConfig({ REDIS_URL: redis.url, THROTTLE_ANONYMOUS_LIMIT: '2', THROTTLE_REDIS_TIMEOUT_MS: '1000' }),
    );
  });

  afterAll(async () => {
    await running.close();
    await redis.stop();
  });

  it('limits in memory within bounded time, with headers, counts it, and counts in Redis once it is back', async () => {
    await redis.stop();
    const started = performance.now();
    const responses = [];
    for (let i = 0; i < 5; i += 1) responses.push(await fetch(`${running.url}${PUBLIC_READ}`));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 429, 429, 429]);
    expect(performance.now() - started).toBeLessThan(5_000);
    // The headers tell this instance's counts, as they do with Redis.
    expect(responses[0].headers.get('ratelimit-remaining')).toBe('1');
    expect(responses[1].headers.get('ratelimit-remaining')).toBe('0');
    expect(responses[1].headers.get('ratelimit-policy')).toBe('2;w=900');
    expect(Number(responses[2].headers.get('retry-after'))).toBeGreaterThan(890);
    const metrics = await (await fetch(`${running.metricsUrl}/metrics`)).text();
    expect(Number(/^rate_limit_local_checks_total (\d+)/m.exec(metrics)?.[1])).toBe(5); // one per request

    // Redis is back, empty: its count holds, and the block held in memory is dropped (it had 900 s left).
    await redis.start();
    let status = 429;
    const deadline = Date.now() + 15_000;
    while (status === 429 && Date.now() < deadline) {
      status = (await fetch(`${running.url}${PUBLIC_READ}`)).status;
      if (status === 429) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
    const next = [];
    for (let i = 0; i < 2; i += 1) next.push((await fetch(`${running.url}${PUBLIC_READ}`)).status);
    expect(next).toEqual([200, 429]);
  });
});

describe('rate limiting of clients that reset the connection', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig({ THROTTLE_SEARCH_LIMIT: '5' }));
  });

  afterAll(async () => {
    await running.close();
  });

  /**
   * Sends a whole request and resets the connection at once, before any answer. It waits for the server to accept the
   * connection first: one reset before that has no address at all, and counts under another key.
   */
  const sendThenReset = (raw: string) =>
    new Promise<void>((resolve) => {
      const socket = connect(Number(new URL(running.url).port), '127.0.0.1', () =>
        setTimeout(
          () =>
            socket.write(raw, () => {
              socket.resetAndDestroy();
              resolve();
            }),
          100,
        ),
      );
    });

  // The search tier reads the address after the anonymous tier has awaited Redis, by when the socket was gone: its
  // address read as undefined, and every such request was a TypeError and a 500 in the error log.
  it("counts a search whose client reset the connection under the client's address, with no server error", async () => {
    for (let i = 0; i < 3; i += 1) {
      await sendThenReset('GET /v1/profiles?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const next = await fetch(`${running.url}/v1/profiles?limit=1`);
    expect(next.status).toBe(200);
    expect(next.headers.get('ratelimit-policy')).toContain('5;w=900');
    expect(next.headers.get('ratelimit-remaining')).toBe('1');
    const metrics = await (await fetch(`${running.metricsUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/^http_errors_total\{[^}]*status_code="5\d\d"/m);
  });
});
