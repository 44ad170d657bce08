import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/app-config.js';
import { registerAccount } from '../factories/accounts.js';
import { startAppWithRedis, type AppWithRedis, type RunningApp } from '../support/test-app.js';

const WRONG = 'not the password, but long enough';

/**
 * Keys that lost the expiry the app gives them (copied to another Redis by a tool that drops TTLs, a `PERSIST` or a
 * `SET` by hand while debugging): each must still end, or the state it holds lasts for ever.
 */
describe('Redis keys without the expiry the app gives them', () => {
  let app: AppWithRedis;
  let config: AppConfig;
  let running: RunningApp;
  let url: string;
  let redis: Redis;
  let nextAddress = 1;
  /** A client address no other test uses: 198.51.100.1, .2, ... */
  const newAddress = () => `198.51.100.${nextAddress++}`;

  beforeAll(async () => {
    app = await startAppWithRedis({
      TRUST_PROXY: '127.0.0.1',
      THROTTLE_ANONYMOUS_LIMIT: '3',
      // Windows long enough for three requests (two password checks) on a loaded CI machine.
      THROTTLE_ANONYMOUS_TTL_S: '5',
      THROTTLE_CREDENTIALS_ACCOUNT_LIMIT: '2',
      THROTTLE_CREDENTIALS_ACCOUNT_TTL_S: '5',
      // The checks must be answered: on this shared machine a 50 ms stall would count them in memory instead.
      THROTTLE_REDIS_TIMEOUT_MS: '1000',
    });
    ({ config, running, redis } = app);
    url = running.url;
  });

  afterAll(async () => {
    await app.close();
  });

  /** The one key matching the pattern (after the app's prefix), as an operator finds it with `--scan`. */
  const onlyKey = async (pattern: string): Promise<string> => {
    const keys = await redis.keys(`${config.redis.keyPrefix}${pattern}`);
    expect(keys).toHaveLength(1);
    return keys[0];
  };

  it('lets a client in again once the window ends after its count lost its expiry', async () => {
    const address = newAddress();
    const plans = () => fetch(`${url}/v1/plans`, { headers: { 'x-forwarded-for': address } });
    expect((await plans()).status).toBe(200);
    expect(await redis.persist(await onlyKey(`throttle:anonymous:${address}:hits`))).toBe(1);

    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await plans()).status);
    expect(statuses).toEqual([200, 200, 429]);

    // The window and the block (5 s each) are over: before the fix the counter never expired and every request past
    // the block set a new one, so the client was refused for good.
    await sleep(6_000);
    expect((await plans()).status).toBe(200);
  });

  it('lets a member log in again once the window ends after their failed logins lost their expiry', async () => {
    const owner = await registerAccount(url, 'hand-reset');
    const address = newAddress();
    const login = (password: string) =>
      fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: JSON.stringify({ email: owner.email, password }),
      });
    expect((await login(WRONG)).status).toBe(401);
    expect(await redis.persist(await onlyKey(`throttle:credentials-account:${address}:*:hits`))).toBe(1);

    expect((await login(WRONG)).status).toBe(401);
    expect((await login(owner.password)).status).toBe(429);

    // Before the fix: refused for ever (Retry-After 0), the count at the limit with no expiry.
    await sleep(6_000);
    expect((await login(owner.password)).status).toBe(200);
  });

  it('limits a client whose count was set by hand to no whole number', async () => {
    const address = newAddress();
    const plans = (from = address) => fetch(`${url}/v1/plans`, { headers: { 'x-forwarded-for': from } });
    expect((await plans()).status).toBe(200);
    await redis.set(await onlyKey(`throttle:anonymous:${address}:hits`), 'many');

    // Before the fix the check failed in Redis on every request: counted in memory, where any other client's check
    // answered by Redis dropped its count, so it was never limited.
    const statuses = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push((await plans()).status);
      expect((await plans(newAddress())).status).toBe(200);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
