import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { RedisProcess } from '../support/redis-process.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

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

  const timed = async (path: string, init?: RequestInit) => {
    const started = performance.now();
    const response = await fetch(`${running.url}${path}`, init);
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown>,
      ms: performance.now() - started,
    };
  };

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
