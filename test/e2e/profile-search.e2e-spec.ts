import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TieredCache } from '../../src/cache/tiered-cache.js';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { ProfilesService } from '../../src/profiles/profiles.service.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile, profileInput, type ProfileInput } from '../factories/profiles.js';
import { pngStructure } from '../factories/images.js';
import { uniqueCity } from '../factories/names.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { scrapedValue } from '../support/prometheus-text.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

type Item = { id: string } & Record<string, unknown>;
type Page = { items: Item[]; nextCursor?: string };

const birthDateForAge = (age: number): string => {
  const date = new Date();
  date.setUTCFullYear(date.getUTCFullYear() - age);
  date.setUTCDate(date.getUTCDate() - 10);
  return date.toISOString().slice(0, 10);
};

describe('profile search', () => {
  let running: RunningApp;
  let url: string;

  beforeAll(async () => {
    running = await startApp(testConfig());
    url = running.url;
  });

  afterAll(async () => {
    await running.close();
  });

  const page = async (query: string): Promise<Page> => {
    const response = await fetch(`${url}/v1/profiles?${query}`);
    expect(response.status).toBe(200);
    return (await response.json()) as Page;
  };
  const metric = (name: string, labels: Record<string, string>) => scrapedValue(running.metricsUrl, name, labels);
  const seed = async (city: string, overrides: Partial<ProfileInput> = {}) =>
    createProfile(url, await registerAccount(url), {
      ...overrides,
      location: { city, country: 'DE', lat: 50, lng: 10 },
    });

  it('filters by city (any case), gender, age range and interests', async () => {
    const city = uniqueCity();
    const young = await seed(city, { gender: 'woman', birthDate: birthDateForAge(22), interests: ['chess'] });
    const middle = await seed(city, {
      gender: 'man',
      birthDate: birthDateForAge(35),
      interests: ['climbing', 'chess'],
    });
    const older = await seed(city, { gender: 'woman', birthDate: birthDateForAge(50), interests: ['sailing'] });
    const hidden = await seed(city, { gender: 'woman', visibility: 'hidden' });
    const inCity = `city=${encodeURIComponent(city.toUpperCase())}`;
    const ids = async (query: string) => (await page(`${inCity}&${query}`)).items.map((item) => item.id).sort();

    expect(await ids('limit=100')).toEqual([young.id, middle.id, older.id].sort());
    expect(await ids('gender=woman')).toEqual([young.id, older.id].sort());
    expect(await ids('minAge=30&maxAge=49')).toEqual([middle.id]);
    expect(await ids('minAge=22&maxAge=22')).toEqual([young.id]);
    expect(await ids('interests=chess')).toEqual([young.id, middle.id].sort());
    expect(await ids('interests=sailing,climbing&gender=woman')).toEqual([older.id]);
    expect(await ids('limit=100')).not.toContain(hidden.id);
  });

  it('returns only the requested public fields (plus id)', async () => {
    const city = uniqueCity();
    await seed(city);
    const { items } = await page(`city=${encodeURIComponent(city)}&fields=displayName,age`);
    expect(items).toHaveLength(1);
    expect(Object.keys(items[0]).sort()).toEqual(['age', 'displayName', 'id']);
    expect(items[0].age).toBe(30);
  });

  it('pages with an opaque cursor without duplicates or gaps while profiles are inserted', async () => {
    const city = uniqueCity();
    const original = new Set<string>();
    for (let i = 0; i < 17; i += 1) original.add((await seed(city)).id);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    let last: Page | undefined;
    do {
      const query: string = `city=${encodeURIComponent(city)}&limit=5${cursor ? `&cursor=${cursor}` : ''}`;
      const result = await page(query);
      last = result;
      seen.push(...result.items.map((item) => item.id));
      cursor = result.nextCursor;
      pages += 1;
      // New profiles arrive between page requests.
      await seed(city);
    } while (cursor);

    expect(pages).toBe(4);
    // The last page has no cursor: left out, never null (README).
    expect(last).not.toHaveProperty('nextCursor');
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => original.has(id)).sort()).toEqual([...original].sort());
    // Nothing inserted after the first page can appear on a later page.
    expect(seen.filter((id) => !original.has(id))).toEqual([]);
  });

  it('answers equivalent searches from one cached page: city in any case or spacing, interests in any order, default size spelled out', async () => {
    const city = uniqueCity();
    const member = await seed(city, { gender: 'woman', interests: ['chess', 'sailing'] });
    const pageLoads = () => metric('cache_misses_total', { cache: 'profile-list-ids', tier: 'l2' });
    const first = await page(`city=${encodeURIComponent(city)}&gender=woman&interests=chess,sailing`);
    expect(first.items.map((item) => item.id)).toEqual([member.id]);
    const loads = await pageLoads();

    const shouted = encodeURIComponent(`  ${city.toUpperCase()} `);
    expect(await page(`interests=sailing,chess,chess&gender=woman&city=${shouted}`)).toEqual(first);
    expect(await page(`limit=20&gender=woman&interests=chess,sailing&city=${shouted}`)).toEqual(first);
    expect(await pageLoads()).toBe(loads);
    // A different page size is a different page.
    await page(`city=${encodeURIComponent(city)}&gender=woman&interests=chess,sailing&limit=19`);
    expect(await pageLoads()).toBe(loads + 1);
  });

  it('keeps a cached page when nothing it selects on changes, and shows the change; drops it when a profile moves', async () => {
    const city = uniqueCity();
    const owner = await registerAccount(url);
    const moving = await createProfile(url, owner, { location: { city, country: 'DE', lat: 50.004, lng: 10.004 } });
    const stayingOwner = await registerAccount(url);
    const staying = await createProfile(url, stayingOwner, { location: { city, country: 'DE', lat: 50, lng: 10 } });
    const inCity = `city=${encodeURIComponent(city)}`;
    const ids = async () => (await page(inCity)).items.map((item) => item.id).sort();
    // Pages the search had to load from the database (list-cache misses), on this app's only instance.
    const pageLoads = () => metric('cache_misses_total', { cache: 'profile-list-ids', tier: 'l2' });
    const change = async (account: Account, body: Record<string, unknown>) => {
      const response = await fetch(`${url}/v1/profiles/${moving.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...account.auth },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);
    };

    // Pages no change of this member can touch: a search in another city, a nearby search on another continent.
    const elsewhere = [`city=${encodeURIComponent(uniqueCity())}`, 'lat=-33.87&lng=151.21'];
    const loadElsewhere = () =>
      Promise.all([page(elsewhere[0]), fetch(`${url}/v1/profiles/nearby?${elsewhere[1]}`).then((r) => r.json())]);
    await loadElsewhere();
    // A nearby search where the member lives.
    const nearbyIds = async () => {
      const response = await fetch(`${url}/v1/profiles/nearby?lat=50.005&lng=10.005&radiusKm=1&limit=100`);
      return ((await response.json()) as Item[]).map((item) => item.id);
    };
    expect(await nearbyIds()).toContain(moving.id);
    expect(await ids()).toEqual([moving.id, staying.id].sort());
    const loaded = await pageLoads();
    // The same page with fewer fields shown comes from the same entry.
    expect((await page(`${inCity}&fields=displayName`)).items.map((item) => Object.keys(item).sort())).toEqual([
      ['displayName', 'id'],
      ['displayName', 'id'],
    ]);
    expect(await pageLoads()).toBe(loaded);

    await change(owner, { displayName: 'Annika', bio: 'Now sailing too.' });
    const { items } = await page(inCity);
    expect(items.find((item) => item.id === moving.id)).toMatchObject({
      displayName: 'Annika',
      bio: 'Now sailing too.',
    });
    expect(await pageLoads()).toBe(loaded);

    // The whole form sent back as stored (as clients do), with the interests in another order, the city in capitals
    // and a step within the same 0.01° cell: no page can have changed, so none is dropped.
    await change(owner, {
      ...profileInput({ displayName: 'Annika', bio: 'Now sailing too.', interests: ['cooking', 'climbing'] }),
      birthDate: moving.birthDate,
      location: { city: city.toUpperCase(), country: 'DE', lat: 50.006, lng: 10.006 },
      visibility: 'public',
    });
    expect(await ids()).toEqual([moving.id, staying.id].sort());
    expect(await pageLoads()).toBe(loaded);

    // A new gender moves the member in searches of their city only; a move to another city and cell in nearby pages
    // of the tiles left and entered, and in searches of both cities: the pages elsewhere stay.
    await change(owner, { gender: 'man' });
    expect(await ids()).toEqual([moving.id, staying.id].sort());
    expect(await nearbyIds()).toContain(moving.id);
    expect(await pageLoads()).toBe(loaded + 1);
    await change(owner, { location: { city: uniqueCity(), country: 'DE', lat: 51.5, lng: 7.5 } });
    expect(await ids()).toEqual([staying.id]);
    expect(await nearbyIds()).not.toContain(moving.id);
    await loadElsewhere();
    expect(await pageLoads()).toBe(loaded + 3);

    // A deletion drops the pages of where the profile was, and leaves the others too.
    expect(
      (await fetch(`${url}/v1/profiles/${staying.id}`, { method: 'DELETE', headers: stayingOwner.auth })).status,
    ).toBe(204);
    expect(await ids()).toEqual([]);
    expect(await nearbyIds()).not.toContain(staying.id);
    await loadElsewhere();
    expect(await pageLoads()).toBe(loaded + 5);
  });

  // The three writes that change what a rendered list showed: a profile update (here one only an item shows), a
  // profile deletion, and the deletion of a photo a profile shows.
  const writes: Record<string, (owner: Account, profileId: string, photoId: string) => Promise<Response>> = {
    'a bio change': (owner, id) =>
      fetch(`${url}/v1/profiles/${id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...owner.auth },
        body: JSON.stringify({ bio: 'Only the bio.' }),
      }),
    'a profile deletion': (owner, id) => fetch(`${url}/v1/profiles/${id}`, { method: 'DELETE', headers: owner.auth }),
    'a photo deletion': (owner, _id, photoId) =>
      fetch(`${url}/v1/media/${photoId}`, { method: 'DELETE', headers: owner.auth }),
  };

  // These tests use entries that the writes of the tests before them also drop, so they start once the second
  // passes of those invalidations are over.

  it.each(Object.keys(writes))('drops the rendered lists that older versions cache on %s', async (write) => {
    await secondInvalidationsDone();
    const owner = await registerAccount(url);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(pngStructure(64))], { type: 'image/png' }), 'photo.png');
    const upload = await fetch(`${url}/v1/media`, { method: 'POST', headers: owner.auth, body: form });
    expect(upload.status).toBe(201);
    const photo = (await upload.json()) as { id: string };
    const profile = await createProfile(url, owner, { photoIds: [photo.id] });
    const cache = running.app.get(TieredCache);
    // Entries in the older versions' names and format, as their instances keep them during a rolling deploy.
    const oldPopular = (value: string) => cache.wrap('popular', 'top', () => Promise.resolve(value), { ttlS: 60 });
    const oldPage = (value: string) =>
      cache.wrap('profile-lists', 'search-x', () => Promise.resolve(value), { ttlS: 30, tags: ['profile-lists'] });
    await oldPopular('rendered');
    await oldPage('rendered');
    expect([await oldPopular('reloaded'), await oldPage('reloaded')]).toEqual(['rendered', 'rendered']);

    expect((await writes[write](owner, profile.id, photo.id)).status).toBeLessThan(300);
    expect([await oldPopular('reloaded'), await oldPage('reloaded')]).toEqual(['reloaded', 'reloaded']);
  });

  it('keeps the cached popular ids on a change that cannot move a profile in them, and drops them on a visibility change', async () => {
    const owner = await registerAccount(url);
    const profile = await createProfile(url, owner);
    const popularLoads = () => metric('cache_misses_total', { cache: 'popular-ids', tier: 'l2' });
    await secondInvalidationsDone();
    const change = async (body: Record<string, unknown>) => {
      const response = await fetch(`${url}/v1/profiles/${profile.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...owner.auth },
        body: JSON.stringify(body),
      });
      expect(response.status).toBe(200);
    };
    const popular = async () => expect((await fetch(`${url}/v1/profiles/popular`)).status).toBe(200);

    await popular();
    const loaded = await popularLoads();
    await change({ bio: 'New bio.', gender: 'man', location: { city: uniqueCity(), country: 'DE', lat: 50, lng: 10 } });
    await popular();
    expect(await popularLoads()).toBe(loaded);
    await change({ visibility: 'hidden' });
    await popular();
    expect(await popularLoads()).toBe(loaded + 1);
  });

  it('renders pages from the profile cache: each uncached item read once, a cached page read not at all', async () => {
    const city = uniqueCity();
    const created: string[] = [];
    for (let i = 0; i < 10; i += 1) created.push((await seed(city)).id);
    // Creating a profile drops its entry, and again 500 ms later: wait for that, or it drops what the first page loads.
    await secondInvalidationsDone();
    const reads = vi.spyOn(running.app.get(ProfilesRepository), 'findById');
    const ids = async (query: string) =>
      (await page(`city=${encodeURIComponent(city)}&${query}`)).items.map((i) => i.id);

    expect((await ids('limit=10')).sort()).toEqual([...created].sort());
    expect(reads.mock.calls.map(([id]) => String(id)).sort()).toEqual([...created].sort());
    reads.mockClear();
    // Another page over the same profiles (a different list entry) needs no profile read.
    expect((await ids('limit=5')).length).toBe(5);
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
  });

  it('lists cities with counts of public profiles', async () => {
    const city = uniqueCity();
    await seed(city);
    await seed(city);
    await seed(city, { visibility: 'hidden' });
    const response = await fetch(`${url}/v1/locations/cities`);
    expect(response.status).toBe(200);
    const cities = (await response.json()) as { city: string; country: string; count: number }[];
    expect(cities).toContainEqual({ city, country: 'DE', count: 2 });
  });

  it('drops a city from the cached list at once when its only member hides, moves away or deletes the profile', async () => {
    const towns = [uniqueCity(), uniqueCity(), uniqueCity()];
    const members: { owner: Account; profile: { id: string } }[] = [];
    for (const city of towns) {
      const owner = await registerAccount(url);
      members.push({
        owner,
        profile: await createProfile(url, owner, { location: { city, country: 'DE', lat: 50, lng: 10 } }),
      });
    }
    const listed = async () =>
      ((await (await fetch(`${url}/v1/locations/cities`)).json()) as { city: string }[]).map((item) => item.city);
    // New members may wait for the list's TTL; start from a list that has them.
    await running.app.get(TieredCache).invalidate('cities', ['all']);
    expect(await listed()).toEqual(expect.arrayContaining(towns));

    const send = (index: number, method: string, body?: unknown) =>
      fetch(`${url}/v1/profiles/${members[index].profile.id}`, {
        method,
        headers: { ...members[index].owner.auth, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    // How often this instance dropped the list (the cache warmer may reload it any time, so loads would not tell).
    const drops = () => metric('cache_invalidations_total', { cache: 'cities', source: 'local' });
    const dropped = await drops();
    // A change the list does not show, and the location sent back within its cell, keep it.
    expect((await send(0, 'PATCH', { bio: 'Still here.' })).status).toBe(200);
    expect((await send(0, 'PATCH', { location: { city: towns[0], country: 'DE', lat: 50.001, lng: 10 } })).status).toBe(
      200,
    );
    expect(await listed()).toEqual(expect.arrayContaining(towns));
    expect(await drops()).toBe(dropped);

    // Each of the three drops it, and the list then shows the others.
    expect((await send(0, 'PATCH', { visibility: 'hidden' })).status).toBe(200);
    expect(await drops()).toBe(dropped + 1);
    expect(await listed()).toEqual(expect.arrayContaining(towns.slice(1)));
    expect(await listed()).not.toContain(towns[0]);
    expect(
      (await send(1, 'PATCH', { location: { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.4 } })).status,
    ).toBe(200);
    expect(await listed()).not.toContain(towns[1]);
    expect(await listed()).toContain(towns[2]);
    expect((await send(2, 'DELETE')).status).toBe(204);
    const after = await listed();
    for (const town of towns) expect(after).not.toContain(town);
  });

  it('ranks cities of one name and count in a fixed order (by country), not as the database happens to group them', async () => {
    const city = uniqueCity();
    // The same name in three countries, one member each: tied on count and city key.
    for (const country of ['US', 'FR', 'DE']) {
      await createProfile(url, await registerAccount(url), { location: { city, country, lat: 50, lng: 10 } });
    }
    const profiles = running.app.get(ProfilesService);
    const ranked = (await profiles.loadCities()).filter((entry) => entry.city === city).map(({ country }) => country);
    expect(ranked).toEqual(['DE', 'FR', 'US']);
  });

  it("refuses a cursor with other filters than the ones it was issued for (400), not B paged from A's last id", async () => {
    const [cityA, cityB] = [uniqueCity(), uniqueCity()];
    // Interleaved: A's cursor, given to a search of B, skipped B's members newer than A's last one seen.
    for (const city of [cityB, cityA, cityB, cityA]) await seed(city);
    const first = await page(`city=${encodeURIComponent(cityA)}&limit=1`);
    expect(first.nextCursor).toBeDefined();
    const reused = await fetch(
      `${url}/v1/profiles?city=${encodeURIComponent(cityB)}&limit=1&cursor=${first.nextCursor}`,
    );
    expect(reused.status).toBe(400);
    // The page size may change between pages.
    expect((await page(`city=${encodeURIComponent(cityA)}&limit=5&cursor=${first.nextCursor}`)).items).toHaveLength(1);
  });

  it('walks every page once per profile while earlier ones are deleted, hidden, moved and new ones inserted', async () => {
    const city = uniqueCity();
    const owners = new Map<string, Account>();
    const seedOwned = async () => {
      const account = await registerAccount(url);
      const profile = await createProfile(url, account, { location: { city, country: 'DE', lat: 50, lng: 10 } });
      owners.set(profile.id, account);
      return profile.id;
    };
    const seeded: string[] = [];
    for (let i = 0; i < 12; i += 1) seeded.push(await seedOwned());
    const inCity = `city=${encodeURIComponent(city)}&limit=4`;
    // Page 1 cached before anything changes.
    const warm = await page(inCity);
    expect(warm.items).toHaveLength(4);

    const seen: string[] = [];
    let cursor: string | undefined;
    let round = 0;
    do {
      const current = await page(`${inCity}${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...current.items.map((item) => item.id));
      cursor = current.nextCursor;
      if (round === 0) {
        // Between the first pages: one seen deleted, one hidden, one moved away, a new one inserted.
        const [gone, hidden, moved] = current.items.map((item) => item.id);
        const change = (id: string, method: string, body?: object) =>
          fetch(`${url}/v1/profiles/${id}`, {
            method,
            headers: { 'content-type': 'application/json', ...owners.get(id)!.auth },
            body: body && JSON.stringify(body),
          });
        expect((await change(gone, 'DELETE')).status).toBe(204);
        expect((await change(hidden, 'PATCH', { visibility: 'hidden' })).status).toBe(200);
        const away = { city: uniqueCity(), country: 'DE', lat: 51, lng: 11 };
        expect((await change(moved, 'PATCH', { location: away })).status).toBe(200);
        await seedOwned();
      }
      round += 1;
    } while (cursor);

    // No profile twice; every one not changed appears.
    expect(new Set(seen).size).toBe(seen.length);
    const changed = warm.items.slice(0, 3).map((item) => item.id);
    for (const id of seeded.filter((id) => !changed.includes(id))) expect(seen).toContain(id);
  });
});
