import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { AppProcess } from '../support/app-process.js';
import { RedisProcess } from '../support/redis-process.js';
import { testEnv } from '../support/test-env.js';

let app: AppProcess | undefined;
let redis: RedisProcess | undefined;
afterAll(async () => {
  app?.signal('SIGKILL');
  await app?.exited;
  await redis?.stop();
});

/** A member polling who viewed them while Redis is down: a flood of 503s, and of warnings until 2026-12-07. */
it('logs a Redis outage once, not once per request for the recent viewers', async () => {
  redis = await RedisProcess.start();
  const booted = await AppProcess.boot((port) =>
    testEnv({ PORT: String(port), LOG_LEVEL: 'info', REDIS_URL: redis!.url }),
  );
  app = booted.app;
  const { url } = booted;
  const member = await registerAccount(url);
  await createProfile(url, member, { displayName: 'Watched' });
  const subscribed = await fetch(`${url}/v1/subscriptions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
    body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
  });
  expect(subscribed.status).toBe(201);
  expect((await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth })).status).toBe(200);
  await redis.stop();
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) {
    const response = await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth });
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const warnings = app.logLines().filter((line) => String(line.msg).startsWith('Recent viewers unavailable'));
  expect(statuses).toEqual(Array.from({ length: 8 }, () => 503));
  // Each request has its own line with its 503; the outage itself is said once, not once per request.
  expect(warnings).toHaveLength(1);
}, 90_000);
