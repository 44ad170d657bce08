import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, registerAccount } from '../factories/accounts.js';
import { decodableImage } from '../factories/images.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const ADMIN = { email: `body-admin-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };
const PROBLEM_JSON = /^application\/problem\+json/;
const refused = (...names: string[]) =>
  names.map((field) => ({ field, message: `property ${field} should not exist` }));

// README: a body field a route does not take is a 400, also on routes that take no body at all.
describe('a body sent to a route that takes none', () => {
  let running: RunningApp;
  let adminAuth: Record<string, string>;

  beforeAll(async () => {
    running = await startApp(testConfig({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }));
    adminAuth = { authorization: `Bearer ${await login(running.url, ADMIN.email, ADMIN.password)}` };
  });

  afterAll(() => running.close());

  /** One request with `body` sent as it is, JSON-typed unless told otherwise. */
  const send = async (method: string, path: string, headers: Record<string, string>, body?: string) => {
    const response = await fetch(`${running.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get('content-type') ?? '',
      body: (text ? JSON.parse(text) : undefined) as { errors?: unknown; detail?: string } | undefined,
    };
  };

  it('is refused with 400 naming its fields, on every kind of route, and does nothing', async () => {
    const member = await registerAccount(running.url);
    const profile = await createProfile(running.url, member);
    // BACKUP_DIR is per test process, which may have run other test files' backups before this one.
    const backupsBefore = (await send('GET', '/v1/admin/backups', adminAuth)).body;
    const cases: [string, string, Record<string, string>, string, unknown][] = [
      ['POST', '/v1/auth/logout', member.auth, '{"all":true}', refused('all')],
      ['POST', '/v1/auth/logout-all', member.auth, '{"except":"this-device"}', refused('except')],
      [
        'POST',
        '/v1/subscriptions/me/cancel',
        member.auth,
        '{"reason":"too expensive","now":true}',
        refused('reason', 'now'),
      ],
      ['POST', '/v1/subscriptions/me/resume', member.auth, '[]', [{ field: 'body', message: 'body should not exist' }]],
      ['POST', '/v1/admin/backups', adminAuth, '{"collections":["users"]}', refused('collections')],
      [
        'DELETE',
        `/v1/profiles/${profile.id}`,
        member.auth,
        'null',
        [{ field: 'body', message: 'body should not exist' }],
      ],
    ];
    for (const [method, path, headers, body, errors] of cases) {
      const answer = await send(method, path, headers, body);
      expect({ path, status: answer.status, type: answer.type }).toEqual({
        path,
        status: 400,
        type: expect.stringMatching(PROBLEM_JSON) as unknown,
      });
      expect({ path, errors: answer.body?.errors }).toEqual({ path, errors });
      expect(answer.body?.detail).toMatch(/takes no request body/);
    }
    // Nothing was done: the token still works, the profile is still there, no backup was started.
    expect((await send('GET', '/v1/profiles/me', member.auth)).status).toBe(200);
    expect((await send('GET', '/v1/admin/backups', adminAuth)).body).toEqual(backupsBefore);
  });

  it('checks the token and the role first', async () => {
    const member = await registerAccount(running.url);
    expect((await send('POST', '/v1/auth/logout', {}, '{"all":true}')).status).toBe(401);
    expect((await send('POST', '/v1/admin/backups', member.auth, '{"x":1}')).status).toBe(403);
  });

  it('takes no body, an empty one and {} as no body, whatever the content type says', async () => {
    const withoutType = await registerAccount(running.url);
    const logout = await fetch(`${running.url}/v1/auth/logout`, { method: 'POST', headers: withoutType.auth });
    expect(logout.status).toBe(204);
    const emptyJson = await registerAccount(running.url);
    expect((await send('POST', '/v1/auth/logout', emptyJson.auth, '')).status).toBe(204);
    const emptyObject = await registerAccount(running.url);
    expect((await send('POST', '/v1/auth/logout-all', emptyObject.auth, '{}')).status).toBe(204);
    // A route that needs a body still refuses an empty one, as it refuses a missing one.
    const login = await send('POST', '/v1/auth/login', {}, '');
    expect([login.status, login.body?.errors]).toEqual([
      400,
      [{ field: 'body', message: 'Validation failed (object is expected)' }],
    ]);
  });

  it('leaves routes that take a body, uploads included, as they were', async () => {
    const member = await registerAccount(running.url);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(await decodableImage(16, 16))]), 'photo.jpg');
    const upload = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
    expect(upload.status).toBe(201);
    const password = await send(
      'POST',
      '/v1/auth/password',
      member.auth,
      JSON.stringify({ currentPassword: member.password, newPassword: 'another long password' }),
    );
    expect(password.status).toBe(200);
  });
});
