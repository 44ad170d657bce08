import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../src/cache/cache.decorators.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { searchFilters } from '../../src/profiles/list-queries.js';
import { LIST_CACHE, SEARCH_TTL_S } from '../../src/profiles/profile-caches.js';
import { registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { uniqueCity } from '../factories/names.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

type Page = { items: { id: string }[]; nextCursor?: string };

/**
 * What an earlier version left in Redis, read by this one: during a rolling deploy both versions share one Redis for
 * minutes, and this one serves what the other cached.
 */
describe('Redis state written by earlier versions', () => {
  let config: AppConfig;
  let running: RunningApp;
  let url: string;
  let redis: Redis;

  beforeAll(async () => {
    config = testConfig();
    running = await startApp(config);
    url = running.url;
    redis = new Redis(config.redis.url);
  });

  afterAll(async () => {
    redis.disconnect();
    await running.close();
  });

  it('pages on from a search page an earlier version cached with a cursor that names no list (v1)', async () => {
    const city = uniqueCity();
    const seed = async () =>
      createProfile(url, await registerAccount(url), { location: { city, country: 'DE', lat: 50, lng: 10 } });
    const oldest = await seed();
    const middle = await seed();
    const newest = await seed();

    // Page 1 of `?city=<city>&limit=2` as versions before bf2ce79 (2026-12-06) cached it: the same key (its filters
    // had the same form without a cursor), the page's ids, and their cursor `{"v":1,"id":<last id>}`.
    const key = cacheKey('search', searchFilters({ city, limit: 2 }));
    const v1Cursor = Buffer.from(JSON.stringify({ v: 1, id: middle.id })).toString('base64url');
    const entry = { v: { ids: [newest.id, middle.id], nextCursor: v1Cursor }, exp: Date.now() + 30_000, d: 5 };
    await redis.set(
      `${config.redis.keyPrefix}cache:${LIST_CACHE}:${key}`,
      JSON.stringify({ ...entry, w: Date.now() }),
      'PX',
      SEARCH_TTL_S * 1000,
    );

    const first = await fetch(`${url}/v1/profiles?city=${encodeURIComponent(city)}&limit=2`);
    expect(first.status).toBe(200);
    const firstPage = (await first.json()) as Page;
    expect(firstPage.items.map((item) => item.id)).toEqual([newest.id, middle.id]);
    expect(firstPage.nextCursor).toBeDefined();

    // The cursor this instance just handed out takes the client to page 2 (it was a 400: v1 names no list).
    const second = await fetch(
      `${url}/v1/profiles?city=${encodeURIComponent(city)}&limit=2&cursor=${firstPage.nextCursor}`,
    );
    expect(second.status).toBe(200);
    const secondPage = (await second.json()) as Page;
    expect(secondPage.items.map((item) => item.id)).toEqual([oldest.id]);
    expect(secondPage.nextCursor).toBeUndefined();
  });
});
