import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, registerAccount } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { uniqueCity } from '../factories/names.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

type Page = { items: { id?: string; userId?: string }[]; nextCursor?: string };

describe('list cursors', () => {
  const ADMIN = { email: `pages-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };
  let running: RunningApp;
  let url: string;
  let adminAuth: { authorization: string };

  beforeAll(async () => {
    running = await startApp(testConfig({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }));
    url = running.url;
    adminAuth = { authorization: `Bearer ${await login(url, ADMIN.email, ADMIN.password)}` };
  });

  afterAll(async () => {
    await running.close();
  });

  const seed = async (city: string) => {
    const account = await registerAccount(url);
    return {
      account,
      profile: await createProfile(url, account, { location: { city, country: 'DE', lat: 50, lng: 10 } }),
    };
  };
  const search = async (query: string) => fetch(`${url}/v1/profiles?${query}`);
  const subscribe = async (auth: { authorization: string }) => {
    const response = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...auth },
      body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
    });
    expect(response.status).toBe(201);
  };

  it('refuses a cursor issued by another list (400), instead of paging from an unrelated id', async () => {
    const city = uniqueCity();
    const members = [await seed(city), await seed(city)];
    for (const { account } of members) await subscribe(account.auth);

    const subscriptions = (await (
      await fetch(`${url}/v1/admin/subscriptions?limit=1`, { headers: adminAuth })
    ).json()) as Page;
    expect(subscriptions.nextCursor).toBeDefined();
    // The admin list's cursor given to the public search.
    expect((await search(`city=${encodeURIComponent(city)}&cursor=${subscriptions.nextCursor}`)).status).toBe(400);

    const profiles = (await (await search(`city=${encodeURIComponent(city)}&limit=1`)).json()) as Page;
    expect(profiles.nextCursor).toBeDefined();
    // The public search's cursor given to the admin list.
    const foreign = await fetch(`${url}/v1/admin/subscriptions?limit=1&cursor=${profiles.nextCursor}`, {
      headers: adminAuth,
    });
    expect(foreign.status).toBe(400);
  });

  it('refuses a search cursor with other filters than the ones it was issued for (400)', async () => {
    const cityA = uniqueCity();
    const cityB = uniqueCity();
    // Interleaved: A's cursor, given to a search of B, skips B's members newer than A's last one seen.
    await seed(cityB);
    await seed(cityA);
    await seed(cityB);
    await seed(cityA);
    const first = (await (await search(`city=${encodeURIComponent(cityA)}&limit=1`)).json()) as Page;
    expect(first.nextCursor).toBeDefined();

    const reused = await search(`city=${encodeURIComponent(cityB)}&limit=1&cursor=${first.nextCursor}`);
    // It paged B from A's last id (until 2026-12-06): 200, B's newest member silently skipped.
    expect(reused.status).toBe(400);
  });

  it('walks every page once per profile while earlier ones are deleted, hidden, moved and new ones inserted, page 1 cached', async () => {
    const city = uniqueCity();
    const seeded: Awaited<ReturnType<typeof seed>>[] = [];
    for (let i = 0; i < 12; i += 1) seeded.push(await seed(city));
    const inCity = `city=${encodeURIComponent(city)}&limit=4`;
    // Page 1 cached before anything changes.
    const warm = (await (await search(inCity)).json()) as Page;
    expect(warm.items).toHaveLength(4);

    const seen: string[] = [];
    let cursor: string | undefined;
    let round = 0;
    do {
      const response = await search(`${inCity}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as Page;
      seen.push(...page.items.map((item) => item.id!));
      cursor = page.nextCursor;
      // Between pages: delete one already seen, hide one seen, move one seen away, insert a new one.
      const [gone, hidden, moved] = page.items;
      if (round === 0) {
        const owner = (id?: string) => seeded.find((entry) => entry.profile.id === id)!.account.auth;
        if (gone) await fetch(`${url}/v1/profiles/${gone.id}`, { method: 'DELETE', headers: owner(gone.id) });
        const patch = (id: string | undefined, body: object) =>
          fetch(`${url}/v1/profiles/${id}`, {
            method: 'PATCH',
            headers: { 'content-type': 'application/json', ...owner(id) },
            body: JSON.stringify(body),
          });
        if (hidden) expect((await patch(hidden.id, { visibility: 'hidden' })).status).toBe(200);
        if (moved) {
          const away = { city: uniqueCity(), country: 'DE', lat: 51, lng: 11 };
          expect((await patch(moved.id, { location: away })).status).toBe(200);
        }
        await seed(city);
      }
      round += 1;
    } while (cursor);

    // Every profile seeded after page 1 was read and not touched appears exactly once.
    const untouched = seeded
      .map((entry) => entry.profile.id)
      .filter((id) => !warm.items.slice(0, 3).some((item) => item.id === id));
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of untouched) expect(seen).toContain(id);
  });
});
