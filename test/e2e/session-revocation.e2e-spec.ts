import { getConnectionToken } from '@nestjs/mongoose';
import jwt from 'jsonwebtoken';
import type { Connection } from 'mongoose';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_VERSION_CACHE } from '../../src/auth/sessions.service.js';
import { TieredCache } from '../../src/cache/tiered-cache.js';
import { loadConfig } from '../../src/config/app-config.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';

const SECRET = 'e2e-secret-with-at-least-thirty-two-characters';
const NEW_PASSWORD = 'a brand new passphrase';

describe('ending sessions: logout and password change', () => {
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

  it('logout ends every session of the account, and a new login works', async () => {
    const member = await registerAccount(a.url);
    const second = await tokenOf(await login(a, member.email, member.password)); // another device
    expect([await statusWith(a, member.token), await statusWith(a, second)]).toEqual([200, 200]);

    expect((await post(a, '/v1/auth/logout', member.token)).status).toBe(204);

    for (const token of [member.token, second]) {
      const refused = await readWith(a, token);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await refused.json()) as { detail: string }).detail).toMatch(/revoked/);
    }
    expect((await post(a, '/v1/auth/logout', member.token)).status).toBe(401);

    const fresh = await tokenOf(await login(a, member.email, member.password));
    expect(await statusWith(a, fresh)).toBe(200);
    expect(await statusWith(b, fresh)).toBe(200);
  });

  it('logout needs a token', async () => {
    const response = await fetch(`${a.url}/v1/auth/logout`, { method: 'POST' });
    expect(response.status).toBe(401);
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

  it('a logout on one instance refuses the old token on the other within 100 ms', async () => {
    const member = await registerAccount(a.url);
    expect(await statusWith(b, member.token)).toBe(200);
    // b holds the account's session version in memory now, so it would accept the token without asking anyone.
    const cache = b.app.get(TieredCache);
    expect(cache.peek(SESSION_VERSION_CACHE.name, member.userId)).toBe(0);

    expect((await post(a, '/v1/auth/logout', member.token)).status).toBe(204);
    const loggedOutAt = performance.now();
    let status = await statusWith(b, member.token);
    while (status === 200 && performance.now() - loggedOutAt < 100) status = await statusWith(b, member.token);
    expect(status).toBe(401);
  });

  it('a password change on one instance refuses the old token on the other within 100 ms', async () => {
    const member = await registerAccount(a.url);
    expect(await statusWith(b, member.token)).toBe(200);

    expect((await changePassword(a, member, member.password, NEW_PASSWORD)).status).toBe(200);
    const changedAt = performance.now();
    let status = await statusWith(b, member.token);
    while (status === 200 && performance.now() - changedAt < 100) status = await statusWith(b, member.token);
    expect(status).toBe(401);
  });

  it('accepts a token issued before session versions (no claim) until the account logs out', async () => {
    const member = await registerAccount(a.url);
    const exp = Math.floor(Date.now() / 1000) + 600;
    const old = jwt.sign({ sub: member.userId, role: 'user', iss: 'vesta-api', aud: 'vesta-api', exp }, SECRET, {
      algorithm: 'HS256',
    });
    expect(jwt.decode(old, { json: true })).not.toHaveProperty('sv');
    expect(await statusWith(a, old)).toBe(200);
    expect(await statusWith(b, old)).toBe(200);

    expect((await post(b, '/v1/auth/logout', old)).status).toBe(204);
    expect(await statusWith(b, old)).toBe(401);
    await expect.poll(() => statusWith(a, old), { timeout: 1_000, interval: 10 }).toBe(401);
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
