import { getConnectionToken } from '@nestjs/mongoose';
import jwt from 'jsonwebtoken';
import type { Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/auth/password-hasher.js';
import { EmailFormMigration } from '../../src/users/email-form-migration.js';
import { login, registerAccount, uniqueEmail } from '../factories/accounts.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const SECRET = 'e2e-secret-with-at-least-thirty-two-characters';
const ADMIN = { email: `Admin-${Date.now()}@Example.test`, password: 'an-admin-password-long-enough' };

describe('accounts and tokens', () => {
  let running: RunningApp;
  let url: string;

  beforeAll(async () => {
    running = await startApp(
      testConfig({ JWT_SECRET: SECRET, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }),
    );
    url = running.url;
  });

  afterAll(async () => {
    await running.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const createProfileWith = (authorization: string) =>
    post('/v1/profiles', {}, { authorization }).then((response) => response.status);

  it('registers, normalises the email, and logs in with any casing', async () => {
    const email = uniqueEmail('Case');
    const registered = await post('/v1/auth/register', {
      email: `  ${email.toUpperCase()} `,
      password: 'a sufficiently long one',
    });
    expect(registered.status).toBe(201);
    const body = (await registered.json()) as { accessToken: string; user: Record<string, unknown> };
    expect(body.user).toMatchObject({ email: email.toLowerCase(), role: 'user' });
    expect(body.user).not.toHaveProperty('passwordHash');
    expect(body.accessToken.split('.')).toHaveLength(3);

    // Stored in lower case; the login spells it in mixed case, then in capitals with spaces around.
    for (const spelling of [email, `  ${email.toUpperCase()} `]) {
      const token = await login(url, spelling, 'a sufficiently long one');
      expect(jwt.verify(token, SECRET), spelling).toMatchObject({ sub: body.user.id, role: 'user' });
    }
  });

  it('answers every request for a token with Cache-Control: no-store, so that no cache keeps the token', async () => {
    const email = uniqueEmail('NoStore');
    const password = 'a-password-long-enough';
    const registered = await post('/v1/auth/register', { email, password });
    const loggedIn = await post('/v1/auth/login', { email, password });
    const { accessToken } = (await loggedIn.json()) as { accessToken: string };
    const changed = await post(
      '/v1/auth/password',
      { currentPassword: password, newPassword: 'another-password-long-enough' },
      { authorization: `Bearer ${accessToken}` },
    );
    expect([registered.status, loggedIn.status, changed.status]).toEqual([201, 200, 200]);
    for (const response of [registered, loggedIn, changed]) {
      expect(response.headers.get('cache-control')).toBe('private, no-store');
    }
  });

  it('refuses a second account for the same email with 409', async () => {
    const account = await registerAccount(url);
    const again = await post('/v1/auth/register', {
      email: account.email.toUpperCase(),
      password: 'another long password',
    });
    expect(again.status).toBe(409);
  });

  it('treats Unicode variants of an email as one account and refuses invisible characters', async () => {
    const password = 'a sufficiently long one';
    const composed = uniqueEmail('jos\u00e9').replace('@example.test', '@b\u00fccher.example');
    const registered = await post('/v1/auth/register', { email: composed, password });
    expect(registered.status).toBe(201);
    expect(((await registered.json()) as { user: { email: string } }).user.email).toMatch(/@xn--bcher-kva\.example$/);
    for (const variant of [
      composed.normalize('NFD'),
      composed.replace('@b\u00fccher.example', '@xn--bcher-kva.example'),
      composed.replace('j', '\uff4a'), // full-width j
    ]) {
      expect((await post('/v1/auth/register', { email: variant, password })).status, variant).toBe(409);
    }
    expect(await login(url, composed.normalize('NFD'), password)).toBeTruthy();
    const invisible = await post('/v1/auth/register', { email: uniqueEmail('dan\u200b'), password });
    expect(invisible.status).toBe(400);
  });

  it('takes an address in capitals as the same account in Greek and from a Turkish keyboard', async () => {
    const password = 'a sufficiently long one';
    const suffix = uniqueEmail('').slice(1); // "-<random>@example.test"
    const sigma = `\u03bd\u03b9\u03ba\u03bf\u03c3${suffix}`; // "νικοσ-…": registered in lower case
    expect((await post('/v1/auth/register', { email: sigma, password })).status).toBe(201);
    // Its capitals: one mailbox, so the same account, not a second one.
    const capitals = sigma.toUpperCase();
    expect((await post('/v1/auth/login', { email: capitals, password })).status, capitals).toBe(200);
    expect((await post('/v1/auth/register', { email: capitals, password })).status, capitals).toBe(409);

    const dotted = `\u0130nci${suffix}`; // "İnci-…" as a Turkish keyboard capitalises it
    expect((await post('/v1/auth/register', { email: dotted, password })).status).toBe(201);
    expect((await post('/v1/auth/login', { email: `inci${suffix}`, password })).status).toBe(200);
    expect((await post('/v1/auth/register', { email: `inci${suffix}`, password })).status).toBe(409);

    // An account stored in the earlier form ("…ς-…", "i\u0307…") is rewritten by the migration and logs in.
    const users = running.app.get<Connection>(getConnectionToken()).collection('users');
    const passwordHash = await running.app.get(PasswordHasher).hash(password);
    const legacySuffix = uniqueEmail('').slice(1);
    const now = new Date();
    await users.insertOne({
      email: `\u03b1\u03c2${legacySuffix}`,
      passwordHash,
      role: 'user',
      createdAt: now,
      updatedAt: now,
    });
    await running.app.get(EmailFormMigration).run();
    expect(await login(url, `\u03b1\u03c3${legacySuffix}`, password)).toBeTruthy();
  });

  it('rewrites emails stored before normalisation, so their owners log in, and leaves a collision alone', async () => {
    const password = 'a sufficiently long one';
    const users = running.app.get<Connection>(getConnectionToken()).collection('users');
    const passwordHash = await running.app.get(PasswordHasher).hash(password);
    const legacy = uniqueEmail('jos\u00e9').normalize('NFD');
    const taken = uniqueEmail('ren\u00e9');
    expect((await post('/v1/auth/register', { email: taken, password })).status).toBe(201);
    const now = new Date();
    const account = { passwordHash, role: 'user', createdAt: now, updatedAt: now };
    // Registered with needless quotes before 2026-12-05, apart from the same mailbox without them.
    const plain = uniqueEmail('quoted');
    const quoted = `"${plain.replace('@', '"@')}`;
    await users.insertMany([
      { ...account, email: legacy },
      { ...account, email: taken.normalize('NFD') },
      { ...account, email: quoted },
    ]);
    const outcome = await running.app.get(EmailFormMigration).run();
    expect(outcome.rewritten).toBeGreaterThanOrEqual(2);
    expect(outcome.collisions).toBeGreaterThanOrEqual(1);
    expect(await login(url, legacy.normalize('NFC'), password)).toBeTruthy();
    expect(await users.countDocuments({ email: taken.normalize('NFD') })).toBe(1);
    expect(await login(url, plain, password)).toBeTruthy();
    expect(await login(url, quoted, password)).toBeTruthy();
    expect((await post('/v1/auth/register', { email: plain, password })).status).toBe(409);
  });

  it('rewrites an email an operator stored by hand in capitals, so its owner logs in and nobody registers it twice', async () => {
    const password = 'a sufficiently long one';
    const users = running.app.get<Connection>(getConnectionToken()).collection('users');
    const passwordHash = await running.app.get(PasswordHasher).hash(password);
    const email = uniqueEmail('changed-by-hand');
    const now = new Date();
    // As an operator sets it by hand (there is no route to change an email), capitals and spaces as the member sent it.
    const typed = ` ${email.toUpperCase()} `;
    await users.insertOne({ email: typed, passwordHash, role: 'user', createdAt: now, updatedAt: now });
    await running.app.get(EmailFormMigration).run();
    expect(await login(url, email, password)).toBeTruthy();
    expect((await post('/v1/auth/register', { email, password })).status).toBe(409);
  });

  it('refuses login and password change for a hash blanked by hand (401 and 403, not 500)', async () => {
    // An operator locks an account with mongosh; argon2 cannot read what is left, and threw.
    const account = await registerAccount(url);
    const users = running.app.get<Connection>(getConnectionToken()).collection('users');
    await users.updateOne({ email: account.email }, { $set: { passwordHash: '' } });
    expect((await post('/v1/auth/login', { email: account.email, password: account.password })).status).toBe(401);
    const change = await post(
      '/v1/auth/password',
      { currentPassword: account.password, newPassword: 'another long password here' },
      account.auth,
    );
    expect(change.status).toBe(403);
  });

  it('answers a wrong password and an unknown email identically', async () => {
    const account = await registerAccount(url);
    const wrongPassword = await post('/v1/auth/login', { email: account.email, password: 'not the right password' });
    const unknownEmail = await post('/v1/auth/login', {
      email: uniqueEmail('nobody'),
      password: 'not the right password',
    });
    expect(wrongPassword.status).toBe(401);
    expect(unknownEmail.status).toBe(401);
    const strip = ({ requestId: _r, ...rest }: Record<string, unknown>) => rest;
    expect(strip((await wrongPassword.json()) as Record<string, unknown>)).toEqual(
      strip((await unknownEmail.json()) as Record<string, unknown>),
    );
  });

  it('takes a password sent in another Unicode form as the same password', async () => {
    // "Crème brûlée" with its accents as separate code points, as some keyboards and pasted text send it, then
    // composed.
    const email = uniqueEmail('unicode');
    const registered = await post('/v1/auth/register', { email, password: 'Cre\u0300me bru\u0302le\u0301e 2026' });
    expect(registered.status).toBe(201);
    expect(await login(url, email, 'Cr\u00e8me br\u00fbl\u00e9e 2026')).toEqual(expect.any(String));
  });

  it('counts a password in characters after normalisation, and takes it at login in either form', async () => {
    // "éééééé" with each accent as a combining mark: 12 code points, 6 characters. Counted as sent, it passed the
    // 10-character minimum; its owner, typing the composed form elsewhere, was then refused at login as too short.
    const decomposed = 'e\u0301'.repeat(6);
    const composed = decomposed.normalize('NFC');
    const short = await post('/v1/auth/register', { email: uniqueEmail('six'), password: decomposed });
    expect(short.status).toBe(400);
    expect(((await short.json()) as { errors: { field: string }[] }).errors).toEqual([
      expect.objectContaining({ field: 'password' }),
    ]);
    // An account registered under the old count (its hash made directly): both forms log in.
    const account = await registerAccount(url);
    const passwordHash = await running.app.get(PasswordHasher).hash(decomposed);
    const users = running.app.get<Connection>(getConnectionToken()).collection('users');
    await users.updateOne({ email: account.email }, { $set: { passwordHash } });
    for (const password of [composed, decomposed]) {
      const answer = await post('/v1/auth/login', { email: account.email, password });
      expect({ form: password.length, status: answer.status }).toEqual({ form: password.length, status: 200 });
    }
    // A short password that is wrong is a wrong password now (401, counted as a failed login), not a 400.
    expect((await post('/v1/auth/login', { email: account.email, password: 'short' })).status).toBe(401);
  });

  it('rejects weak input: short password, bad email, operator objects, extra fields', async () => {
    for (const body of [
      { email: uniqueEmail(), password: 'short' },
      { email: 'not-an-email', password: 'long enough password' },
      { email: { $ne: null }, password: 'long enough password' },
      { email: uniqueEmail(), password: 'long enough password', role: 'admin' },
    ]) {
      const response = await post('/v1/auth/register', body);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/problem\+json/);
    }
    const injected = await post('/v1/auth/login', { email: { $gt: '' }, password: { $ne: null } });
    expect(injected.status).toBe(400);
  });

  it('refuses a password change to the password already held, in any Unicode form, and keeps the sessions', async () => {
    const password = 'cr\u00e8me br\u00fbl\u00e9e twice';
    const email = uniqueEmail('same-password');
    expect((await post('/v1/auth/register', { email, password })).status).toBe(201);
    const authorization = `Bearer ${await login(url, email, password)}`;
    for (const newPassword of [password, password.normalize('NFD')]) {
      const refused = await post('/v1/auth/password', { currentPassword: password, newPassword }, { authorization });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/problem\+json/);
      expect(JSON.stringify(await refused.json())).toContain('newPassword must differ from currentPassword');
    }
    // Nothing changed: the token still passes the guard (400 for the empty body, not 401) and the password logs in.
    expect(await createProfileWith(authorization)).toBe(400);
    expect(await login(url, email, password)).toBeTruthy();
  });

  it('creates the first admin from ADMIN_EMAIL / ADMIN_PASSWORD', async () => {
    const token = await login(url, ADMIN.email.toLowerCase(), ADMIN.password);
    expect(jwt.decode(token)).toMatchObject({ role: 'admin' });
  });

  describe('tokens that must not work', () => {
    let valid: string;
    let userId: string;

    beforeAll(async () => {
      const account = await registerAccount(url);
      valid = account.token;
      userId = account.userId;
    });

    const claims = () => ({ sub: userId, role: 'user', iss: 'vesta-api', aud: 'vesta-api' });

    it('accepts the genuine token (control)', async () => {
      // 400 (empty body) proves the guard let the request through.
      expect(await createProfileWith(`Bearer ${valid}`)).toBe(400);
    });

    it('rejects no token, a malformed header, and garbage', async () => {
      expect((await post('/v1/profiles', {})).status).toBe(401);
      expect(await createProfileWith(valid)).toBe(401);
      expect(await createProfileWith('Bearer not.a.token')).toBe(401);
    });

    it('logs in and registers whatever token comes along: one that expired, or garbage', async () => {
      const account = await registerAccount(url);
      const expired = jwt.sign({ ...claims(), exp: Math.floor(Date.now() / 1000) - 10 }, SECRET, {
        algorithm: 'HS256',
      });
      for (const authorization of [`Bearer ${expired}`, 'Bearer not.a.token', 'Basic Zm9vOmJhcg==']) {
        const loggedIn = await post(
          '/v1/auth/login',
          { email: account.email, password: account.password },
          { authorization },
        );
        expect(loggedIn.status).toBe(200);
        const registered = await post(
          '/v1/auth/register',
          { email: uniqueEmail(), password: account.password },
          { authorization },
        );
        expect(registered.status).toBe(201);
      }
      // The credentials still decide.
      const wrong = await post(
        '/v1/auth/login',
        { email: account.email, password: 'not the right password' },
        {
          authorization: `Bearer ${valid}`,
        },
      );
      expect(wrong.status).toBe(401);
    });

    it('rejects an expired token', async () => {
      const expired = jwt.sign({ ...claims(), exp: Math.floor(Date.now() / 1000) - 10 }, SECRET, {
        algorithm: 'HS256',
      });
      expect(await createProfileWith(`Bearer ${expired}`)).toBe(401);
    });

    it('rejects a tampered payload (role escalated, signature kept)', async () => {
      const [header, , signature] = valid.split('.');
      const payload = Buffer.from(JSON.stringify({ ...jwt.decode(valid, { json: true }), role: 'admin' })).toString(
        'base64url',
      );
      expect(await createProfileWith(`Bearer ${header}.${payload}.${signature}`)).toBe(401);
    });

    it('rejects alg "none" and a token signed with another secret', async () => {
      // With an expiry, so that the signature is all that is wrong: without one the guard refused both as tokens that
      // never expire, signature checked or not.
      const live = { ...claims(), exp: Math.floor(Date.now() / 1000) + 60 };
      const genuine = jwt.sign(live, SECRET, { algorithm: 'HS256' });
      expect(await createProfileWith(`Bearer ${genuine}`)).toBe(400); // control: the same claims, signed by us, pass
      const none = jwt.sign(live, '', { algorithm: 'none' });
      expect(await createProfileWith(`Bearer ${none}`)).toBe(401);
      const foreign = jwt.sign(live, 'some-other-secret-that-is-also-long-enough', { algorithm: 'HS256' });
      expect(await createProfileWith(`Bearer ${foreign}`)).toBe(401);
    });

    it('rejects a signed token whose subject is not an account id, or that never expires (401, not 500)', async () => {
      const exp = Math.floor(Date.now() / 1000) + 60;
      const notAnId = jwt.sign({ ...claims(), sub: 'not-an-object-id', exp }, SECRET, { algorithm: 'HS256' });
      const forever = jwt.sign(claims(), SECRET, { algorithm: 'HS256' });
      for (const token of [notAnId, forever]) {
        const response = await fetch(`${url}/v1/subscriptions/me`, { headers: { authorization: `Bearer ${token}` } });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
      }
    });

    it('takes the scheme in any case', async () => {
      expect(await createProfileWith(`bearer ${valid}`)).toBe(400);
    });

    it('rejects a token for another audience', async () => {
      // With an expiry, so that the audience is all that is wrong: without one the guard refused the token as one that
      // never expires, whatever its audience.
      const exp = Math.floor(Date.now() / 1000) + 60;
      const ours = jwt.sign({ ...claims(), exp }, SECRET, { algorithm: 'HS256' });
      expect(await createProfileWith(`Bearer ${ours}`)).toBe(400); // control: the same token for this API passes
      const other = jwt.sign({ ...claims(), exp, aud: 'another-service' }, SECRET, { algorithm: 'HS256' });
      expect(await createProfileWith(`Bearer ${other}`)).toBe(401);
    });
  });
});
