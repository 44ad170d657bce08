import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { AppProcess } from '../support/app-process.js';
import { testEnv } from '../support/test-env.js';

/** What docs/operations.md (Logs) says the log never holds: credentials, an email, a member's position. */
describe('the log of requests carrying personal data', () => {
  let app: AppProcess;
  let url: string;

  beforeAll(async () => {
    ({ app, url } = await AppProcess.boot((port) => testEnv({ PORT: String(port), LOG_LEVEL: 'debug' })));
  });

  afterAll(async () => {
    app.signal('SIGTERM');
    await app.exited;
  });

  it('holds no password, token, email or position, in any line at any level', async () => {
    const account = await registerAccount(url, 'privacy');
    const headers = { ...account.auth, cookie: 'session=cookie-secret' };
    const sent = [
      fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: account.email, password: 'wrong-password-secret' }),
      }),
      fetch(`${url}/v1/auth/login?email=${encodeURIComponent(account.email)}&password=query-secret`, {
        method: 'POST',
      }),
      fetch(`${url}/v1/profiles/me?access_token=${account.token}`),
      fetch(`${url}/v1/profiles/nearby?lat=52.5200081&lng=13.4049541&radiusKm=5`, { headers }),
      fetch(`${url}/v1/profiles/${account.token}`, { headers }),
      fetch(`${url}/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"email":"${account.email}","password":"truncated-secret`,
      }),
    ];
    for (const response of await Promise.all(sent)) await response.arrayBuffer();
    await expect
      .poll(() => app.logLines().filter((line) => line.msg === 'request completed').length, {
        timeout: 5_000,
      })
      .toBeGreaterThanOrEqual(7);

    const log = app.stdout.join('');
    for (const secret of [account.email, account.token, 'secret', '52.52', '13.40', account.password]) {
      expect(log).not.toContain(secret);
    }
  });
});
