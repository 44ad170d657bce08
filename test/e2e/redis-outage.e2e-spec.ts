import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerAccount, type Account } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { createProfile } from '../factories/profiles.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { timedJson } from '../support/json-call.js';
import { RedisProcess } from '../support/redis-process.js';
import { silencingRelay } from '../support/tcp-stand-ins.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { requiredEnv, testConfig } from '../support/test-env.js';

/** The whole service with its Redis killed mid-run: degraded, never failing, and correct afterwards. */
describe('Redis outage', () => {
  let redis: RedisProcess;
  let running: RunningApp;
  let member: Account;
  let profileId: string;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    running = await startApp(testConfig({ REDIS_URL: redis.url }));
    member = await registerAccount(running.url);
    profileId = (await createProfile(running.url, member, { displayName: 'Before' })).id;
  });

  afterAll(async () => {
    await running.close();
    await redis.stop();
  });

  const timed = (path: string, init?: RequestInit) => timedJson(running.url, path, init);

  // That no instance serves stale data once Redis returns needs two instances: tiered-cache.int-spec shows it.
  it('keeps serving reads and accepting writes without Redis, and the written value once it returns', async () => {
    expect((await timed(`/v1/profiles/${profileId}`)).body.displayName).toBe('Before');
    await redis.stop();

    const read = await timed(`/v1/profiles/${profileId}`);
    expect(read.status).toBe(200);
    const search = await timed('/v1/profiles?gender=woman&limit=5');
    expect(search.status).toBe(200);
    expect(search.ms).toBeLessThan(2_000);

    const patch = await timed(`/v1/profiles/${profileId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...member.auth },
      body: JSON.stringify({ displayName: 'During' }),
    });
    expect(patch.status).toBe(200);
    expect((await timed(`/v1/profiles/${profileId}`)).body.displayName).toBe('During');
    expect((await timed('/health/ready')).status).toBe(200); // Redis is not a readiness dependency

    await redis.start();
    const after = await timed(`/v1/profiles/${profileId}`);
    expect(after.status).toBe(200);
    expect(after.body.displayName).toBe('During');
  });

  it('checks tokens against the database while Redis is down, and a logout still ends the sessions', async () => {
    const other = await registerAccount(running.url);
    await redis.stop();
    try {
      // A session version this instance does not hold is read from MongoDB, after at most one L2 timeout.
      for (const account of [member, other]) {
        const read = await timed(`/v1/profiles/${profileId}`, { headers: account.auth });
        expect(read.status).toBe(200);
        expect(read.ms).toBeLessThan(2_000);
      }
      const logout = await fetch(`${running.url}/v1/auth/logout`, { method: 'POST', headers: other.auth });
      expect(logout.status).toBe(204);
      expect((await timed(`/v1/profiles/${profileId}`, { headers: other.auth })).status).toBe(401);
      expect((await timed(`/v1/profiles/${profileId}`, { headers: member.auth })).status).toBe(200);
    } finally {
      await redis.start();
    }
  });
});

/** Rate limits are counted in the instance's memory while Redis is down: password guessing stays limited. */
describe('login during a Redis outage', () => {
  const WRONG = 'not the password, but long enough';
  let redis: RedisProcess;
  let running: RunningApp;
  let member: Account;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    running = await startApp(testConfig({ REDIS_URL: redis.url, THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '3' }));
    member = await registerAccount(running.url);
  });

  afterAll(async () => {
    await running.close();
    await redis.stop();
  });

  const login = (password: string) =>
    fetch(`${running.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: member.email, password }),
    });
  const statuses = async (times: number, password: string) => {
    const result = [];
    for (let i = 0; i < times; i += 1) result.push((await login(password)).status);
    return result;
  };

  it('still limits wrong passwords per account, and correct logins do not use the limit up', async () => {
    await redis.stop();
    try {
      // More correct logins than the limit: each gives its count back, as with Redis.
      expect(await statuses(4, member.password)).toEqual([200, 200, 200, 200]);
      expect(await statuses(5, WRONG)).toEqual([401, 401, 401, 429, 429]);

      const refused = await login(member.password);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.headers.get('ratelimit-policy')).toContain('3;w=900');
      expect(((await refused.json()) as { detail: string }).detail).toMatch(
        /^Too many wrong passwords for this account from this address: at most 3 per 900 s/,
      );
    } finally {
      await redis.start();
    }
  });
});

/**
 * Redis moved (a failover, a pod on another node) or a NAT forgot the connections: the old ones go silent, and TCP
 * gives up on them only about 15 minutes later, while Redis answers new ones at once.
 */
describe('Redis connections that go silent while Redis answers new ones', () => {
  let relay: Awaited<ReturnType<typeof silencingRelay>>;
  let writer: RunningApp;
  let reader: RunningApp;

  beforeAll(async () => {
    relay = await silencingRelay(requiredEnv('REDIS_URL'));
    // Two instances of one deployment: one key prefix. Only the writer's connections go through the relay.
    const prefix = `vesta-test-silenced-${randomUUID().slice(0, 8)}:`;
    writer = await startApp(testConfig({ REDIS_URL: relay.url, REDIS_KEY_PREFIX: prefix }));
    reader = await startApp(testConfig({ REDIS_KEY_PREFIX: prefix }));
  });

  afterAll(async () => {
    await writer.close();
    await reader.close();
    await relay.close();
  });

  const status = async (response: Promise<Response>) => {
    const answer = await response;
    await answer.arrayBuffer();
    return answer.status;
  };

  // Until 2026-12-05 they were kept: the reader served the hidden profile for its whole cache TTL (300 s), and every
  // subscription change of the writer was refused with 503 until TCP gave up.
  it('are replaced within seconds: a profile hidden through one instance leaves the others, and changes work again', async () => {
    const member = await registerAccount(writer.url);
    const profile = await createProfile(writer.url, member);
    const readerRead = () => status(fetch(`${reader.url}/v1/profiles/${profile.id}`));
    expect(await readerRead()).toBe(200); // in the reader's memory from now on

    relay.silenceExisting();
    const hide = fetch(`${writer.url}/v1/profiles/${profile.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...member.auth },
      body: JSON.stringify({ visibility: 'hidden' }),
    });
    expect(await status(hide)).toBe(200);

    await vi.waitFor(async () => expect(await readerRead()).toBe(404), { timeout: 20_000, interval: 500 });
    const subscribe = () =>
      fetch(`${writer.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
        body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
      });
    await vi.waitFor(async () => expect(await status(subscribe())).toBe(201), { timeout: 20_000, interval: 500 });
  });
});

/** Redis accepting connections and answering nothing (SIGSTOP): each cache invalidation waits out its timeout. */
describe('deleting a profile while Redis does not answer', () => {
  let redis: RedisProcess;
  let running: RunningApp;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    // A cache timeout an operator may choose for a Redis farther away: it makes each wait long enough to add up.
    running = await startApp(testConfig({ REDIS_URL: redis.url, CACHE_L2_TIMEOUT_MS: '300' }));
  });

  afterAll(async () => {
    redis.thaw();
    await running.close();
    await redis.stop();
  });

  const upload = async (account: Account) => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(pngStructure(1_000))]), 'p.png');
    const response = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: account.auth, body: form });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };

  // Until 2026-12-05 each photo's detach dropped the profile's cache entries one after another, three timeouts where
  // one does: this delete took about 11 s, past the request deadline (503 for a delete that happened), and about 5 s
  // with six photos and the default 50 ms timeout.
  it('deletes it and its photos within the request deadline', async () => {
    const member = await registerAccount(running.url);
    const photos = [await upload(member), await upload(member), await upload(member)];
    const profile = await createProfile(running.url, member, { photoIds: photos });
    await redis.freeze();
    try {
      const response = await fetch(`${running.url}/v1/profiles/${profile.id}`, {
        method: 'DELETE',
        headers: member.auth,
      });
      expect(response.status).toBe(204);
    } finally {
      redis.thaw();
    }
    expect((await fetch(`${running.url}/v1/profiles/${profile.id}`)).status).toBe(404);
  });
});

/**
 * Redis keeping every connection open and answering nothing (SIGSTOP), as behind a proxy that stalls it, under two
 * instances of the service: no reconnect tells anyone to give up, only the cache's own timeout does.
 */
describe('reads and writes while Redis answers nothing', () => {
  let redis: RedisProcess;
  let a: RunningApp;
  let b: RunningApp;

  beforeAll(async () => {
    redis = await RedisProcess.start();
    // A client timeout far above the cache's: a read that waited for the client instead of CACHE_L2_TIMEOUT_MS shows.
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `vesta-test-frozen-${randomUUID().slice(0, 8)}:`,
      REDIS_COMMAND_TIMEOUT_MS: '5000',
    };
    a = await startApp(testConfig(env));
    b = await startApp(testConfig(env));
  });

  afterAll(async () => {
    redis.thaw();
    await Promise.all([a.close(), b.close()]);
    await redis.stop();
  });

  const read = (app: RunningApp, id: string) => timedJson(app.url, `/v1/profiles/${id}`);

  it('reads within the cache timeout, takes writes, and serves no old value once Redis answers again', async () => {
    const member = await registerAccount(a.url);
    const profile = await createProfile(a.url, member, { displayName: 'Before' });
    const cold = await createProfile(a.url, await registerAccount(a.url));
    await secondInvalidationsDone();
    expect((await read(a, profile.id)).body.displayName).toBe('Before');
    expect((await read(b, profile.id)).body.displayName).toBe('Before'); // in b's memory from now on

    await redis.freeze();
    try {
      const first = await read(b, cold.id); // in no memory: Redis is asked, then the database
      expect(first.status).toBe(200);
      expect(first.ms).toBeLessThan(2_000);
      const patch = await timedJson(a.url, `/v1/profiles/${profile.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...member.auth },
        body: JSON.stringify({ displayName: 'After' }),
      });
      expect(patch.status).toBe(200);
      expect(patch.ms).toBeLessThan(2_000);
      const own = await read(a, profile.id);
      expect([own.status, own.body.displayName]).toEqual([200, 'After']);
    } finally {
      redis.thaw();
    }
    // b missed the invalidation while Redis was stalled; once Redis answers, it hears of it and drops its copy.
    await vi.waitFor(async () => expect((await read(b, profile.id)).body.displayName).toBe('After'), {
      timeout: 5_000,
      interval: 50,
    });
  });
});
