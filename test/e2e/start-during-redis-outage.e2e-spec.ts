import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { AppProcess } from '../support/app-process.js';
import { timedJson } from '../support/json-call.js';
import { silencingRelay } from '../support/tcp-stand-ins.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { requiredEnv, testConfig, testEnv } from '../support/test-env.js';

/**
 * A pod (re)started during a Redis incident: Redis accepts connections and answers nothing from before the process
 * starts. redis-outage.e2e-spec covers outages that begin while the app runs.
 */
describe('a process started while Redis does not answer', () => {
  const prefix = `vesta-test-coldstart-${randomUUID().slice(0, 8)}:`;
  let relay: Awaited<ReturnType<typeof silencingRelay>>;
  let app: AppProcess;
  let url: string;
  let peer: RunningApp;
  let redis: Redis;
  let startedInMs: number;

  beforeAll(async () => {
    relay = await silencingRelay(requiredEnv('REDIS_URL'));
    relay.blackHole();
    const started = performance.now();
    ({ app, url } = await AppProcess.boot((port) =>
      testEnv({
        PORT: String(port),
        REDIS_URL: relay.url,
        REDIS_KEY_PREFIX: prefix,
        THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '3',
      }),
    ));
    startedInMs = performance.now() - started;
    // Another pod of the deployment, started before the incident and still reaching Redis.
    peer = await startApp(testConfig({ REDIS_KEY_PREFIX: prefix }));
    redis = new Redis(requiredEnv('REDIS_URL'), { keyPrefix: prefix });
  });

  afterAll(async () => {
    app.signal('SIGKILL');
    await app.exited;
    await peer.close();
    redis.disconnect();
    await relay.close();
  });

  it('starts, serves and takes writes from the database, and uses Redis again without a restart', async () => {
    // Bounded by REDIS_CONNECT_TIMEOUT_MS (2 s, the clients wait together) and REDIS_COMMAND_TIMEOUT_MS (1 s, the
    // cache's first SUBSCRIBE); about 2 s with Redis answering. Ready: Redis is not a readiness dependency.
    expect(startedInMs).toBeLessThan(10_000);
    expect((await timedJson(url, '/health/live')).status).toBe(200);
    const ready = await timedJson(url, '/health/ready');
    expect([ready.status, ready.ms < 1_000]).toEqual([200, true]);

    const member = await registerAccount(url);
    const profile = await createProfile(url, member, { displayName: 'Before' });
    expect((await timedJson(peer.url, `/v1/profiles/${profile.id}`)).body.displayName).toBe('Before');
    // Not hanging on the black-holed Redis is what counts: a cities read took over 1 s in a loaded CI run.
    for (const path of [`/v1/profiles/${profile.id}`, '/v1/locations/cities', '/v1/locations/cities']) {
      const read = await timedJson(url, path);
      expect([path, read.status, read.ms < 3_000]).toEqual([path, 200, true]);
    }
    const patch = await timedJson(url, `/v1/profiles/${profile.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...member.auth },
      body: JSON.stringify({ displayName: 'During' }),
    });
    expect(patch.status).toBe(200);
    expect((await timedJson(url, `/v1/profiles/${profile.id}`)).body.displayName).toBe('During');

    // Rate limits are counted in this instance's memory (decision 0030): wrong passwords are still limited.
    const logins = [];
    for (let i = 0; i < 4; i += 1) {
      logins.push(
        (
          await timedJson(url, '/v1/auth/login', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email: member.email, password: 'not the password, but long enough' }),
          })
        ).status,
      );
    }
    expect(logins).toEqual([401, 401, 401, 429]);
    // Subscription changes need Redis' lock and are refused meanwhile (subscriptions.service.ts).
    const subscribe = () =>
      timedJson(url, '/v1/subscriptions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
        body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
      });
    expect((await subscribe()).status).toBe(503);

    relay.restore();
    const seen = new Set<unknown>();
    await vi.waitFor(
      async () => {
        seen.add((await timedJson(url, `/v1/profiles/${profile.id}`)).body.displayName);
        // The peer drops its copy when the restarted pod's failed invalidation is replayed; L2 is written again.
        expect((await timedJson(peer.url, `/v1/profiles/${profile.id}`)).body.displayName).toBe('During');
        expect(await redis.exists(`cache:profile:${profile.id}`)).toBe(1);
      },
      { timeout: 10_000, interval: 100 },
    );
    await vi.waitFor(async () => expect((await subscribe()).status).toBe(201), { timeout: 10_000, interval: 200 });
    expect([...seen]).toEqual(['During']);
  });
});
