import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { afterAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/auth/password-hasher.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

describe('first admin whose email is still stored in its pre-normalisation form', () => {
  let running: RunningApp | undefined;
  afterAll(async () => {
    await running?.close();
  });

  it('is found at start: no second admin is created with ADMIN_PASSWORD', async () => {
    const legacyEmail = `root-${Date.now()}@b\u00fccher.example`; // stored trimmed + lower case, before punycode
    const seedPassword = 'the-seed-password-from-the-env';
    const first = await startApp(testConfig());
    const users = first.app.get<Connection>(getConnectionToken()).collection('users');
    const now = new Date();
    await users.insertOne({
      email: legacyEmail,
      passwordHash: await first.app.get(PasswordHasher).hash('rotated-by-the-operator-later'),
      role: 'admin',
      sessionVersion: 0,
      createdAt: now,
      updatedAt: now,
    });
    await first.close();

    running = await startApp(testConfig({ ADMIN_EMAIL: legacyEmail, ADMIN_PASSWORD: seedPassword }));
    const login = await fetch(`${running.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: legacyEmail, password: seedPassword }),
    });
    const admins = await running.app
      .get<Connection>(getConnectionToken())
      .collection('users')
      .countDocuments({ email: { $in: [legacyEmail, legacyEmail.replace('b\u00fccher', 'xn--bcher-kva')] } });
    expect(admins).toBe(1);
    expect(login.status).toBe(401);
  });
});
