import { Redis } from 'ioredis';
import { createHash, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsersRepository } from '../../src/users/users.repository.js';
import { registerAccount, uniqueEmail, type Account } from '../factories/accounts.js';
import { scrapedValue } from '../support/prometheus-text.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { requiredEnv, testConfig } from '../support/test-env.js';

const WRONG = 'not the password, but long enough';

// Failed logins per email: 3 from one address, 6 from all addresses. Clients are told apart by X-Forwarded-For,
// which the app believes from 127.0.0.1 (TRUST_PROXY), as it would from the load balancer.
describe('login lockout per email', () => {
  const prefix = `vesta-test-lockout-${randomUUID().slice(0, 8)}:`;
  let running: RunningApp;
  let redis: Redis;
  let nextAddress = 1;
  /** A client address no other test uses: 203.0.113.1, .2, ... */
  const newAddress = () => `203.0.113.${nextAddress++}`;

  const login = (email: string, password: string, address: string) =>
    fetch(`${running.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify({ email, password }),
    });
  const statuses = async (times: number, attempt: () => Promise<Response>) => {
    const result = [];
    for (let i = 0; i < times; i += 1) result.push((await attempt()).status);
    return result;
  };

  beforeAll(async () => {
    running = await startApp(
      testConfig({
        REDIS_KEY_PREFIX: prefix,
        TRUST_PROXY: '127.0.0.1',
        THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '3',
        THROTTLE_CREDENTIALS_GLOBAL_LIMIT: '6',
        // The checks must be answered: on this shared machine a 50 ms stall would let attempts through unchecked.
        THROTTLE_REDIS_TIMEOUT_MS: '1000',
        // A burst below checks ten correct logins at once, two hashes at a time: on this shared machine the last may
        // wait past the default 2 s for its slot and get a 503, which is not what that test is about.
        PASSWORD_HASH_MAX_WAIT_MS: '8000',
      }),
    );
    redis = new Redis(requiredEnv('REDIS_URL'));
  });

  afterAll(async () => {
    await running.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  let owner: Account;
  beforeEach(async () => {
    owner = await registerAccount(running.url, 'lockout');
  });

  it('an attacker failing from one address does not stop the owner logging in from another', async () => {
    const attacker = newAddress();
    // Ten tries, more than the per-email limit over all addresses: the refused ones must not count towards it.
    const attempts = await statuses(10, () => login(owner.email, WRONG, attacker));
    expect(attempts).toEqual([401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);

    expect((await login(owner.email, owner.password, newAddress())).status).toBe(200);
  });

  it('locks the email from an address after the strict limit, even with the right password', async () => {
    const address = newAddress();
    expect(await statuses(3, () => login(owner.email, WRONG, address))).toEqual([401, 401, 401]);

    const refused = await login(owner.email, owner.password, address);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(890);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('ratelimit-policy')).toContain('3;w=900');
    expect(((await refused.json()) as { detail: string }).detail).toMatch(
      /^Too many wrong passwords for this account from this address: at most 3 per 900 s/,
    );
    // Only that email: the same address may still try another account.
    expect((await login(uniqueEmail(), WRONG, address)).status).toBe(401);
  });

  it('stops guessing spread over many addresses at the per-email limit over all of them', async () => {
    const spread = await statuses(6, () => login(owner.email, WRONG, newAddress()));
    expect(spread).toEqual([401, 401, 401, 401, 401, 401]);

    const seventh = await login(owner.email, WRONG, newAddress());
    expect(seventh.status).toBe(429);
    expect(Number(seventh.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await seventh.json()) as { detail: string }).detail).toMatch(
      /^Too many wrong passwords for this account from all addresses: at most 6 per 900 s/,
    );
    // The price of this limit: while it holds, the owner is refused too (docs/decisions/0025).
    expect((await login(owner.email, owner.password, newAddress())).status).toBe(429);
  });

  it('counts failed logins only: signing in often uses up nothing', async () => {
    const home = newAddress();
    expect(await statuses(8, () => login(owner.email, owner.password, home))).toEqual(Array(8).fill(200));
    // The successes left the counts at zero, not below: three failures are allowed and the fourth try is refused.
    expect(await statuses(4, () => login(owner.email, WRONG, home))).toEqual([401, 401, 401, 429]);
  });

  it('tells a login that does not fail what is left of the failed-login limits, not one try less', async () => {
    const home = newAddress();
    expect(await statuses(2, () => login(owner.email, WRONG, home))).toEqual([401, 401]);
    // One wrong password is left from this address (3 - 2), and a correct login or a refused body uses none of it.
    for (const attempt of [
      () => login(owner.email, owner.password, home),
      () => login(owner.email, '', home), // 400
    ]) {
      const response = await attempt();
      expect(response.headers.get('ratelimit-limit')).toBe('3');
      expect(response.headers.get('ratelimit-remaining')).toBe('1');
    }
    const failed = await login(owner.email, WRONG, home);
    expect(failed.status).toBe(401);
    expect(failed.headers.get('ratelimit-remaining')).toBe('0');
    expect((await login(owner.email, WRONG, home)).status).toBe(429);
  });

  it('does not lock out a member whose correct logins arrive all at once', async () => {
    const address = newAddress();
    // Ten at once against a limit of three: some may be refused while the others are still counted, but none fails.
    const burst = await Promise.all(Array.from({ length: 10 }, () => login(owner.email, owner.password, address)));
    expect(burst.every((response) => response.status === 200 || response.status === 429)).toBe(true);
    // Once they have all been answered (and given their hits back), the next login passes.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await login(owner.email, owner.password, address)).status).toBe(200);
  });

  it('does not count registration attempts for a taken email against its logins', async () => {
    const register = () =>
      fetch(`${running.url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': newAddress() },
        body: JSON.stringify({ email: owner.email, password: WRONG }),
      });
    expect(await statuses(7, register)).toEqual(Array(7).fill(409));

    expect((await login(owner.email, owner.password, newAddress())).status).toBe(200);
  });

  it("does not count the owner's tries refused by the limit over all addresses against their own address", async () => {
    expect(await statuses(6, () => login(owner.email, WRONG, newAddress()))).toEqual(Array(6).fill(401));
    const home = newAddress();
    expect(await statuses(5, () => login(owner.email, owner.password, home))).toEqual(Array(5).fill(429));

    // So once that limit's window ends the owner has all their tries from home: the five refused ones gave theirs back
    // (waiting out a 900 s window here is not an option; a shorter one would change the order the library checks in).
    const homeKey = await redis.keys(`${prefix}throttle:credentials-account:${home}:*`);
    expect(homeKey).toHaveLength(1);
    await expect.poll(() => redis.get(homeKey[0])).toBe('0');
  });

  it('limits wrong current passwords at a password change per account, and only wrong ones', async () => {
    const change = (currentPassword: string, address: string) =>
      fetch(`${running.url}/v1/auth/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address, ...owner.auth },
        body: JSON.stringify({ currentPassword, newPassword: 'a new password, long enough' }),
      });
    // A stolen token does not give unlimited guesses at the password behind it: 3 from one address.
    const thief = newAddress();
    expect(await statuses(4, () => change(WRONG, thief))).toEqual([403, 403, 403, 429]);
    // Six over all addresses: three more from others, then even the right password is refused everywhere.
    expect(await statuses(3, () => change(WRONG, newAddress()))).toEqual([403, 403, 403]);
    expect((await change(owner.password, newAddress())).status).toBe(429);
  });

  it('counts wrong passwords at login and at a password change together: one account, one count', async () => {
    const change = (address: string) =>
      fetch(`${running.url}/v1/auth/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address, ...owner.auth },
        body: JSON.stringify({ currentPassword: WRONG, newPassword: 'a new password, long enough' }),
      }).then((response) => response.status);
    // Locked out of the owner's login from this address: a stolen token must not carry on guessing from it.
    const thief = newAddress();
    expect(await statuses(4, () => login(owner.email, WRONG, thief))).toEqual([401, 401, 401, 429]);
    expect(await change(thief)).toBe(429);
    // Six over all addresses, whichever route they guessed through.
    expect(await change(newAddress())).toBe(403);
    expect(await change(newAddress())).toBe(403);
    expect(await statuses(2, () => login(owner.email, WRONG, newAddress()))).toEqual([401, 429]);
  });

  it('counts a password change the client abandons before the answer: the change goes ahead without it', async () => {
    /** Sends a change and drops the connection once the limiter has counted it, while the password is being checked. */
    const abandon = async (account: Account, address: string, currentPassword: string) => {
      // The account as a login names it: a password change counts with the logins of its account.
      const hashed = createHash('sha256').update(account.email).digest('base64url');
      const hits = () => redis.get(`${prefix}throttle:credentials-account:${address}:${hashed}:hits`);
      const counted = Number(await hits());
      // Dropped while it waited for a hashing slot, it would check nothing and give its hits back (decision 0032): it
      // is sent once the hashes of the tests before have ended, and dropped once its own runs (or was answered).
      const gauge = (name: string) => scrapedValue(running.metricsUrl, name, {});
      const idle = async () => (await gauge('password_hashing_in_flight')) + (await gauge('password_hashing_waiting'));
      await expect.poll(idle, { interval: 10, timeout: 10_000 }).toBe(0);
      const body = JSON.stringify({ currentPassword, newPassword: 'chosen by whoever holds the token' });
      const socket = connect(Number(new URL(running.url).port), '127.0.0.1');
      socket.on('error', () => undefined);
      let answered = false;
      socket.once('data', () => (answered = true));
      socket.write(
        `POST /v1/auth/password HTTP/1.1\r\nhost: vesta\r\ncontent-type: application/json\r\n` +
          `x-forwarded-for: ${address}\r\nauthorization: ${account.auth.authorization}\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await expect.poll(async () => Number(await hits()), { interval: 2 }).toBe(counted + 1);
      const hashing = async () => answered || (await gauge('password_hashing_in_flight')) > 0;
      await expect.poll(hashing, { interval: 2, timeout: 10_000 }).toBe(true);
      socket.destroy();
    };
    // Abandoned with the right password, the change still happens, and the old token turning 401 tells the sender.
    // The change checks and hashes a password (argon2, 64 MiB each): on a loaded machine that takes more than the
    // poll's default second.
    await abandon(owner, newAddress(), owner.password);
    await expect
      .poll(async () => (await fetch(`${running.url}/v1/profiles/me`, { headers: owner.auth })).status, {
        timeout: 10_000,
      })
      .toBe(401);

    // So abandoned guesses count like answered ones; otherwise a stolen token would guess without limit this way.
    const victim = await registerAccount(running.url, 'lockout');
    const thief = newAddress();
    for (let i = 0; i < 3; i += 1) await abandon(victim, thief, `${WRONG} ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const refused = await fetch(`${running.url}/v1/auth/password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': thief, ...victim.auth },
      body: JSON.stringify({ currentPassword: victim.password, newPassword: 'a new password, long enough' }),
    });
    expect(refused.status).toBe(429);
  });

  it('does not count a password change that succeeds', async () => {
    const address = newAddress();
    let password = owner.password;
    let auth = owner.auth;
    for (let i = 0; i < 4; i += 1) {
      const newPassword = `a new password, long enough ${i}`;
      const changed = await fetch(`${running.url}/v1/auth/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address, ...auth },
        body: JSON.stringify({ currentPassword: password, newPassword }),
      });
      expect(changed.status).toBe(200);
      password = newPassword;
      auth = { authorization: `Bearer ${((await changed.json()) as { accessToken: string }).accessToken}` };
    }
  });

  it('keeps every key bounded: hashed emails, each key expiring', async () => {
    await login(owner.email, WRONG, newAddress());
    await login(owner.email, owner.password, newAddress());
    const keys = await redis.keys(`${prefix}throttle:credentials-account*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).not.toContain('@');
      expect(await redis.pttl(key)).toBeGreaterThan(0);
    }
  });
});

// The library checks tiers shortest window first. Until 2026-12-03 that was the order used, so a shorter lockout window
// than the address's put the per-email tiers first: every login the address's limit refused still wrote two keys
// for the email it named (refunded to 0, kept for the window), as many as the client cared to send.
describe('login lockout with a shorter window than the limit per address', () => {
  const prefix = `vesta-test-lockout-order-${randomUUID().slice(0, 8)}:`;
  let running: RunningApp;
  let redis: Redis;

  beforeAll(async () => {
    running = await startApp(
      testConfig({
        REDIS_KEY_PREFIX: prefix,
        THROTTLE_CREDENTIALS_LIMIT: '2',
        THROTTLE_CREDENTIALS_ACCOUNT_TTL_S: '60',
        THROTTLE_CREDENTIALS_GLOBAL_TTL_S: '60',
        THROTTLE_REDIS_TIMEOUT_MS: '1000',
      }),
    );
    redis = new Redis(requiredEnv('REDIS_URL'));
  });

  afterAll(async () => {
    await running.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('writes no per-email key for logins the limit per address refuses', async () => {
    const attempts = [];
    for (let i = 0; i < 10; i += 1) {
      const response = await fetch(`${running.url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: uniqueEmail('order'), password: WRONG }),
      });
      attempts.push(response.status);
      if (response.status === 429)
        expect(((await response.json()) as { detail: string }).detail).toMatch(/at most 2 requests per 900 s/);
    }
    expect(attempts).toEqual([401, 401, 429, 429, 429, 429, 429, 429, 429, 429]);
    expect(await redis.keys(`${prefix}throttle:credentials-account:*`)).toHaveLength(2);
    expect(await redis.keys(`${prefix}throttle:credentials-global:*`)).toHaveLength(2);
  });
});

describe('a password change refused by the limit per address', () => {
  const prefix = `vesta-test-lockout-refused-${randomUUID().slice(0, 8)}:`;
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(
      testConfig({
        REDIS_KEY_PREFIX: prefix,
        TRUST_PROXY: '127.0.0.1',
        THROTTLE_CREDENTIALS_LIMIT: '2',
        THROTTLE_REDIS_TIMEOUT_MS: '1000',
      }),
    );
  });

  afterAll(async () => {
    await running.close();
    const redis = new Redis(requiredEnv('REDIS_URL'));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('is refused without reading the account: tiers whose keys cost a read are not read for Retry-After', async () => {
    const owner = await registerAccount(running.url, 'refused-change');
    const change = () =>
      fetch(`${running.url}/v1/auth/password`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': '198.51.100.7', ...owner.auth },
        body: JSON.stringify({ currentPassword: WRONG, newPassword: 'a new password, long enough' }),
      });
    expect([(await change()).status, (await change()).status]).toEqual([403, 403]);
    const reads = vi.spyOn(running.app.get(UsersRepository), 'findById');
    try {
      const refused = await change();
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // The failed-password tiers after the refusing one key the account by its stored email: read for each refused
      // request, the database paid for requests that nothing limits.
      expect(reads).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
    }
  });
});
