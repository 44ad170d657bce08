import { getConnectionToken } from '@nestjs/mongoose';
import jwt from 'jsonwebtoken';
import type { Connection } from 'mongoose';
import { Types } from 'mongoose';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_SESSIONS_CACHE, ENDED_SESSION_KEPT_MS, MAX_ENDED_SESSIONS } from '../../src/auth/sessions.service.js';
import { SECOND_INVALIDATION_MS, TieredCache } from '../../src/cache/tiered-cache.js';
import { loadConfig } from '../../src/config/app-config.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

const SECRET = 'e2e-secret-with-at-least-thirty-two-characters';
const NEW_PASSWORD = 'a brand new passphrase';

describe('ending sessions: logout, logout-all and password change', () => {
  let a: RunningApp;
  let b: RunningApp;
  /** A profile to read: GET /v1/profiles/:id with a token is the hot path, and refuses a revoked token with 401. */
  let profileId: string;

  beforeAll(async () => {
    // Two instances sharing MongoDB and Redis, as behind a load balancer.
    const env = testEnv({ JWT_SECRET: SECRET });
    a = await startApp(loadConfig(env));
    b = await startApp(loadConfig(env));
    profileId = (await createProfile(a.url, await registerAccount(a.url))).id;
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  const post = (app: RunningApp, path: string, token: string, body?: unknown) =>
    fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const readWith = (app: RunningApp, token: string) =>
    fetch(`${app.url}/v1/profiles/${profileId}`, { headers: { authorization: `Bearer ${token}` } });
  const statusWith = async (app: RunningApp, token: string) => (await readWith(app, token)).status;
  const login = (app: RunningApp, email: string, password: string) =>
    fetch(`${app.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  const tokenOf = async (response: Response) => ((await response.json()) as { accessToken: string }).accessToken;
  const changePassword = (app: RunningApp, account: Account, currentPassword: string, newPassword: string) =>
    post(app, '/v1/auth/password', account.token, { currentPassword, newPassword });
  /** The status `app` gives the token: polled while 200 for up to 100 ms (the time a revocation may take to arrive). */
  const statusAfter100ms = async (app: RunningApp, token: string) => {
    const since = performance.now();
    let status = await statusWith(app, token);
    while (status === 200 && performance.now() - since < 100) status = await statusWith(app, token);
    return status;
  };
  /** A token as the API signs them, for claims it cannot be made to issue (old tokens, many sessions). */
  const signed = (userId: string, claims: { sv?: number; sid?: string } = {}) =>
    jwt.sign(
      {
        sub: userId,
        role: 'user',
        iss: 'vesta-api',
        aud: 'vesta-api',
        exp: Math.floor(Date.now() / 1000) + 600,
        ...claims,
      },
      SECRET,
      { algorithm: 'HS256' },
    );
  const newSid = () => randomBytes(16).toString('base64url');
  const sidOf = (token: string) => (jwt.decode(token, { json: true }) as { sid?: unknown }).sid;
  const endedSessions = () =>
    a.app
      .get<Connection>(getConnectionToken())
      .collection<{ _id: string; userId: Types.ObjectId; sessionVersion: number; expiresAt: Date }>('ended_sessions');

  it('gives every token a session id of its own: 128 random bits, base64url', async () => {
    const member = await registerAccount(a.url);
    const second = await tokenOf(await login(a, member.email, member.password));
    const changed = await tokenOf(await changePassword(a, { ...member, token: second }, member.password, NEW_PASSWORD));
    const sids = [member.token, second, changed].map(sidOf);
    for (const sid of sids) expect(sid).toMatch(/^[\w-]{22}$/);
    expect(new Set(sids).size).toBe(3);
  });

  it("logout ends only its token's session, on both instances; the account's other sessions go on", async () => {
    const member = await registerAccount(a.url);
    const phone = member.token;
    const web = await tokenOf(await login(a, member.email, member.password));
    // Both instances hold the account's sessions in memory now, so they would accept the tokens without asking.
    for (const app of [a, b]) expect([await statusWith(app, phone), await statusWith(app, web)]).toEqual([200, 200]);
    expect(b.app.get(TieredCache).peek(ACCOUNT_SESSIONS_CACHE.name, member.userId)).toEqual({ version: 0, ended: [] });

    expect((await post(a, '/v1/auth/logout', phone)).status).toBe(204);

    const refused = await readWith(a, phone);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/revoked/);
    expect(await statusAfter100ms(b, phone)).toBe(401);
    expect([await statusWith(a, web), await statusWith(b, web)]).toEqual([200, 200]);
    expect((await post(a, '/v1/auth/logout', phone)).status).toBe(401);

    // The other way round, and from the other instance.
    expect((await post(b, '/v1/auth/logout', web)).status).toBe(204);
    expect(await statusAfter100ms(a, web)).toBe(401);
    expect(await statusWith(b, web)).toBe(401);

    const fresh = await tokenOf(await login(a, member.email, member.password));
    expect([await statusWith(a, fresh), await statusWith(b, fresh)]).toEqual([200, 200]);
  });

  it('logout-all ends every session of the account on both instances, and a new login works', async () => {
    const member = await registerAccount(a.url);
    const second = await tokenOf(await login(a, member.email, member.password)); // another device
    for (const app of [a, b])
      expect([await statusWith(app, member.token), await statusWith(app, second)]).toEqual([200, 200]);

    expect((await post(a, '/v1/auth/logout-all', member.token)).status).toBe(204);

    for (const token of [member.token, second]) {
      expect(await statusWith(a, token)).toBe(401);
      expect(await statusAfter100ms(b, token)).toBe(401);
    }
    expect((await post(a, '/v1/auth/logout-all', second)).status).toBe(401);

    const fresh = await tokenOf(await login(a, member.email, member.password));
    expect([await statusWith(a, fresh), await statusWith(b, fresh)]).toEqual([200, 200]);
  });

  it('logout and logout-all need a token', async () => {
    for (const path of ['/v1/auth/logout', '/v1/auth/logout-all']) {
      const response = await fetch(`${a.url}${path}`, { method: 'POST' });
      expect(response.status, path).toBe(401);
    }
  });

  it('logouts of several sessions of one account at once all take effect', async () => {
    const member = await registerAccount(a.url);
    const kept = await tokenOf(await login(a, member.email, member.password));
    const ended = Array.from({ length: 6 }, () => signed(member.userId, { sv: 0, sid: newSid() }));
    for (const token of [kept, ...ended]) expect(await statusWith(b, token)).toBe(200);

    const logouts = await Promise.all(ended.map((token, i) => post(i % 2 ? a : b, '/v1/auth/logout', token)));
    expect(logouts.map((response) => response.status)).toEqual(ended.map(() => 204));

    for (const app of [a, b]) {
      for (const token of ended) expect(await statusAfter100ms(app, token)).toBe(401);
      expect(await statusWith(app, kept)).toBe(200);
    }
    expect(await endedSessions().countDocuments({ userId: new Types.ObjectId(member.userId) })).toBe(ended.length);
  });

  it('keeps an ended session ended when logouts purge the records of expired tokens', async () => {
    const member = await registerAccount(a.url);
    const ended = member.token;
    const trigger = await tokenOf(await login(a, member.email, member.password));
    const kept = await tokenOf(await login(a, member.email, member.password));
    expect((await post(a, '/v1/auth/logout', ended)).status).toBe(204);
    // Records of tokens long expired (another account's too), and of one that expired within the kept margin.
    const userId = new Types.ObjectId(member.userId);
    const longAgo = new Date(Date.now() - ENDED_SESSION_KEPT_MS - 60_000);
    const expiredLately = { _id: newSid(), userId, sessionVersion: 0, expiresAt: new Date(Date.now() - 60_000) };
    await endedSessions().insertMany([
      { _id: newSid(), userId, sessionVersion: 0, expiresAt: longAgo },
      { _id: newSid(), userId: new Types.ObjectId(), sessionVersion: 2, expiresAt: longAgo },
      expiredLately,
    ]);

    expect((await post(b, '/v1/auth/logout', trigger)).status).toBe(204);

    // As once the cached copies expire: both instances load the account's sessions again.
    await a.app.get(TieredCache).invalidate(ACCOUNT_SESSIONS_CACHE.name, [member.userId]);
    for (const app of [a, b]) {
      const statuses = [await statusWith(app, ended), await statusWith(app, trigger), await statusWith(app, kept)];
      expect(statuses).toEqual([401, 401, 200]);
    }
    expect(await endedSessions().countDocuments({ expiresAt: longAgo })).toBe(0);
    const left = (await endedSessions().find({ userId }).toArray()).map((record) => record._id);
    expect(left.sort()).toEqual([sidOf(ended), sidOf(trigger), expiredLately._id].sort());
  });

  it(`past ${MAX_ENDED_SESSIONS} sessions ended one by one, a logout ends every session; none comes back`, async () => {
    const member = await registerAccount(a.url);
    const kept = await tokenOf(await login(a, member.email, member.password));
    const tokens = Array.from({ length: MAX_ENDED_SESSIONS + 1 }, () =>
      signed(member.userId, { sv: 0, sid: newSid() }),
    );
    const [last, ...first] = [tokens[MAX_ENDED_SESSIONS], ...tokens.slice(0, MAX_ENDED_SESSIONS)];
    for (let i = 0; i < first.length; i += 10) {
      const logouts = await Promise.all(first.slice(i, i + 10).map((token) => post(a, '/v1/auth/logout', token)));
      expect(logouts.map((response) => response.status)).toEqual(logouts.map(() => 204));
    }
    expect([await statusWith(a, kept), await statusWith(b, kept)]).toEqual([200, 200]);
    expect(await statusWith(b, first[0])).toBe(401);

    expect((await post(a, '/v1/auth/logout', last)).status).toBe(204);

    expect(await statusWith(a, kept)).toBe(401);
    expect(await statusAfter100ms(b, kept)).toBe(401);
    for (const app of [a, b]) for (const token of tokens) expect(await statusWith(app, token)).toBe(401);
    // What the instances hold and check per account starts over under the raised version: read once the logout's
    // second invalidation pass, which drops the entry again, is over (otherwise whether b holds it at this moment
    // depends on how long the loop above took).
    await new Promise((resolve) => setTimeout(resolve, SECOND_INVALIDATION_MS + 200));
    expect(await statusWith(b, kept)).toBe(401);
    expect(b.app.get(TieredCache).peek(ACCOUNT_SESSIONS_CACHE.name, member.userId)).toEqual({ version: 1, ended: [] });
    const fresh = await tokenOf(await login(a, member.email, member.password));
    expect([await statusWith(a, fresh), await statusWith(b, fresh)]).toEqual([200, 200]);
  });

  it('a password change revokes older tokens, returns one that works, and retires the old password', async () => {
    const member = await registerAccount(a.url);
    const other = await tokenOf(await login(a, member.email, member.password));

    const changed = await changePassword(a, member, member.password, NEW_PASSWORD);
    expect(changed.status).toBe(200);
    const body = (await changed.json()) as { accessToken: string; expiresIn: number; user: Record<string, unknown> };
    expect(body.user).toMatchObject({ id: member.userId, email: member.email, role: 'user' });
    expect(body.user).not.toHaveProperty('passwordHash');
    expect(body.expiresIn).toBeGreaterThan(0);

    expect(await statusWith(a, member.token)).toBe(401);
    expect(await statusWith(a, other)).toBe(401);
    expect(await statusWith(a, body.accessToken)).toBe(200);
    expect(await statusWith(b, body.accessToken)).toBe(200);
    expect((await login(a, member.email, member.password)).status).toBe(401);
    expect((await login(a, member.email, NEW_PASSWORD)).status).toBe(200);
  });

  it('refuses a wrong current password with 403, and changes nothing', async () => {
    const member = await registerAccount(a.url);
    const refused = await changePassword(a, member, 'not the current password', NEW_PASSWORD);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await refused.json()) as { detail: string }).detail).toBe('The current password is wrong');
    expect(await statusWith(a, member.token)).toBe(200);
    expect((await login(a, member.email, member.password)).status).toBe(200);
  });

  it('holds the new password to the registration rules (400 problem), and changes nothing', async () => {
    const member = await registerAccount(a.url);
    for (const body of [
      { currentPassword: member.password, newPassword: 'short' },
      { currentPassword: member.password, newPassword: 'x'.repeat(129) },
      { currentPassword: member.password, newPassword: { $ne: null } },
      { currentPassword: member.password },
      { currentPassword: '', newPassword: NEW_PASSWORD },
      { currentPassword: member.password, newPassword: NEW_PASSWORD, role: 'admin' },
    ]) {
      const response = await post(a, '/v1/auth/password', member.token, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect(await statusWith(a, member.token)).toBe(200);
    expect((await login(a, member.email, member.password)).status).toBe(200);
  });

  it('a password change on one instance refuses the old token on the other within 100 ms', async () => {
    const member = await registerAccount(a.url);
    expect(await statusWith(b, member.token)).toBe(200);

    expect((await changePassword(a, member, member.password, NEW_PASSWORD)).status).toBe(200);
    expect(await statusAfter100ms(b, member.token)).toBe(401);
  });

  it('accepts a token issued before session versions (no claim) until the account logs out', async () => {
    const member = await registerAccount(a.url);
    const old = signed(member.userId);
    expect(jwt.decode(old, { json: true })).not.toHaveProperty('sv');
    expect(await statusWith(a, old)).toBe(200);
    expect(await statusWith(b, old)).toBe(200);

    expect((await post(b, '/v1/auth/logout-all', old)).status).toBe(204);
    expect(await statusWith(b, old)).toBe(401);
    await expect.poll(() => statusWith(a, old), { timeout: 1_000, interval: 10 }).toBe(401);
  });

  it('a logout with a token issued before session ids (no sid) ends every session: the only way to end that one', async () => {
    const member = await registerAccount(a.url);
    const old = signed(member.userId, { sv: 0 });
    for (const token of [old, member.token])
      expect([await statusWith(a, token), await statusWith(b, token)]).toEqual([200, 200]);

    expect((await post(b, '/v1/auth/logout', old)).status).toBe(204);

    for (const token of [old, member.token]) {
      expect(await statusWith(b, token)).toBe(401);
      expect(await statusAfter100ms(a, token)).toBe(401);
    }
    expect(await endedSessions().countDocuments({ userId: new Types.ObjectId(member.userId) })).toBe(0);
  });

  it('refuses the tokens of an account that no longer exists', async () => {
    const member = await registerAccount(a.url);
    const users = a.app.get<Connection>(getConnectionToken()).collection('users');
    await users.deleteOne({ _id: new Types.ObjectId(member.userId) });
    const refused = await readWith(b, member.token);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/no longer exists/);
  });
});
