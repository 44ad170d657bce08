import { mongo, Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { uniqueCity } from '../factories/names.js';
import { createProfile, profileInput } from '../factories/profiles.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';
import { loadConfig } from '../../src/config/app-config.js';

describe('caching over HTTP', () => {
  let a: RunningApp;
  let b: RunningApp;
  let owner: Account;

  beforeAll(async () => {
    // Two instances of the service sharing MongoDB and Redis, as behind a load balancer.
    const env = testEnv({ HTTP_PUBLIC_MAX_AGE_S: '3600' });
    a = await startApp(loadConfig(env));
    b = await startApp(loadConfig(env));
    owner = await registerAccount(a.url);
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('reads the database once per instance for 500 concurrent requests of a cold profile', async () => {
    const profile = await createProfile(a.url, owner);
    await secondInvalidationsDone();
    const reads = vi.spyOn(a.app.get(ProfilesRepository), 'findById');
    const statuses = await Promise.all(
      Array.from({ length: 500 }, () => fetch(`${a.url}/v1/profiles/${profile.id}`).then((r) => r.status)),
    );
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(reads).toHaveBeenCalledTimes(1);
    reads.mockRestore();
  });

  it('shows an update made through one instance on the other within 100 ms', async () => {
    const member = await registerAccount(a.url);
    const profile = await createProfile(a.url, member, { displayName: 'Before' });
    const displayName = async (app: RunningApp) =>
      ((await (await fetch(`${app.url}/v1/profiles/${profile.id}`)).json()) as { displayName: string }).displayName;
    expect(await displayName(a)).toBe('Before');
    expect(await displayName(b)).toBe('Before'); // now cached in b's memory too

    const patch = await fetch(`${a.url}/v1/profiles/${profile.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...member.auth },
      body: JSON.stringify({ displayName: 'After' }),
    });
    expect(patch.status).toBe(200);
    const updatedAt = performance.now();
    let seen = await displayName(b);
    while (seen !== 'After' && performance.now() - updatedAt < 100) seen = await displayName(b);
    expect(seen).toBe('After');
  });

  it('shows a new profile on every instance even when its id was read before it existed', async () => {
    const member = await registerAccount(a.url);
    const guesses = await readNextIdsAsMissing([a, b]);
    const profile = await createProfile(a.url, member);
    expect(guesses).toContain(profile.id);
    for (const app of [a, b]) {
      expect((await fetch(`${app.url}/v1/profiles/${profile.id}`)).status).toBe(200);
      expect((await fetch(`${app.url}/v1/profiles/${profile.id}`, { headers: member.auth })).status).toBe(200);
    }
  });

  it('shows a new profile whose id was read before, even when its create landed and then answered an error', async () => {
    const member = await registerAccount(a.url);
    const guesses = await readNextIdsAsMissing([a]);
    // The insert lands, then the connection dies before its answer comes back.
    const repository = a.app.get(ProfilesRepository);
    const insert = vi.spyOn(repository, 'create').mockImplementationOnce(async (...args) => {
      await ProfilesRepository.prototype.create.apply(repository, args);
      throw new mongo.MongoNetworkError('connection closed after the write');
    });
    const create = await fetch(`${a.url}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...member.auth },
      body: JSON.stringify(profileInput()),
    });
    insert.mockRestore();
    expect(create.status).toBe(503);

    const mine = await fetch(`${a.url}/v1/profiles/me`, { headers: member.auth });
    const { id } = (await mine.json()) as { id: string };
    expect(guesses).toContain(id);
    expect((await fetch(`${a.url}/v1/profiles/${id}`)).status).toBe(200);
  });

  it('answers If-None-Match with 304 and marks public and per-caller data differently', async () => {
    const profile = await createProfile(a.url, await registerAccount(a.url));
    const first = await fetch(`${a.url}/v1/profiles/${profile.id}`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^W\/"/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    expect(first.headers.get('vary')).toBe('authorization, accept-encoding');
    const again = await fetch(`${a.url}/v1/profiles/${profile.id}`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    // RFC 9110 §8.6: a 304 may carry Content-Length only with the 200's length (a cache may copy it onto its copy).
    expect(again.headers.get('content-length')).toBeNull();
    const head = await fetch(`${a.url}/v1/profiles/${profile.id}`, {
      method: 'HEAD',
      headers: { 'if-none-match': etag! },
    });
    expect(head.status).toBe(304);
    // A client holding several versions sends them all (RFC 9110 §13.1.2).
    const listed = await fetch(`${a.url}/v1/profiles/${profile.id}`, {
      headers: { 'if-none-match': `W/"older", ${etag!}` },
    });
    expect(listed.status).toBe(304);

    const cities = await fetch(`${a.url}/v1/locations/cities`);
    expect(cities.headers.get('cache-control')).toBe('public, max-age=300');
    // The same for every caller, so a shared cache may answer signed-in members with one copy.
    const signedIn = await registerAccount(a.url);
    const citiesSignedIn = await fetch(`${a.url}/v1/locations/cities`, { headers: signedIn.auth });
    expect(citiesSignedIn.headers.get('vary')).toBe('accept-encoding');
    expect(await citiesSignedIn.text()).toBe(await cities.text());
    expect(cities.headers.get('etag')).toBeTruthy();
  });

  it('answers a GET or HEAD whose If-Match fails with 412 before any 304, and with 200 for If-Match: *', async () => {
    const profile = await createProfile(a.url, await registerAccount(a.url));
    const url = `${a.url}/v1/profiles/${profile.id}`;
    const etag = (await fetch(url)).headers.get('etag')!;
    // JSON answers carry weak ETags and If-Match compares strongly (RFC 9110 §13.1.1): even the current one fails.
    for (const method of ['GET', 'HEAD']) {
      const refused = await fetch(url, { method, headers: { 'if-match': etag, 'if-none-match': etag } });
      expect(refused.status, method).toBe(412);
      expect(refused.headers.get('etag'), method).toBeNull();
      expect(refused.headers.get('cache-control'), method).toBe('no-store');
      expect(refused.headers.get('content-type'), method).toBe('application/problem+json; charset=utf-8');
    }
    const problem = (await (await fetch(url, { headers: { 'if-match': '"other"' } })).json()) as Record<
      string,
      unknown
    >;
    expect(problem).toMatchObject({ status: 412, instance: `/v1/profiles/${profile.id}` });
    const any = await fetch(url, { headers: { 'if-match': '*' } });
    expect(any.status).toBe(200);
    expect(((await any.json()) as { id: string }).id).toBe(profile.id);
    expect((await fetch(url, { headers: { 'if-match': '*', 'if-none-match': etag } })).status).toBe(304);
    // Conditions apply to what the request would otherwise get: a 404 stays a 404.
    const missing = await fetch(`${a.url}/v1/profiles/${new Types.ObjectId().toHexString()}`, {
      headers: { 'if-match': '"other"' },
    });
    expect(missing.status).toBe(404);
  });

  it('caps public max-age at the server-side TTL for member lists and forbids keeping errors', async () => {
    // Catalogue data without a server-side TTL of its own gets HTTP_PUBLIC_MAX_AGE_S whole (the report: 1 h).
    expect((await fetch(`${a.url}/v1/plans`)).headers.get('cache-control')).toBe('public, max-age=3600');
    const search = await fetch(`${a.url}/v1/profiles?gender=woman`);
    expect(search.headers.get('cache-control')).toBe('public, max-age=30');
    const invalid = await fetch(`${a.url}/v1/profiles?limit=500`);
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get('cache-control')).toBe('no-store');
    // A 404 is cacheable by default (RFC 9110 §15.1): without a no-store a CDN would keep answering "not found" for a
    // hidden profile made public, or for one read before it was created.
    const member = await registerAccount(a.url);
    const hidden = await createProfile(a.url, member, { visibility: 'hidden' });
    const missing = await fetch(`${a.url}/v1/profiles/${hidden.id}`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBe('no-store');
    expect((await fetch(`${a.url}/v1/no-such-route`)).headers.get('cache-control')).toBe('no-store');
  });

  it('sends no Cache-Control on writes, except no-store on those that answer with a token', async () => {
    const created = await fetch(`${a.url}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await registerAccount(a.url)).auth },
      body: JSON.stringify(profileInput()),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBeNull();
    const login = await fetch(`${a.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: owner.email, password: owner.password }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get('cache-control')).toBe('private, no-store');
  });
});

describe('caching over HTTP with CORS_ORIGINS listing origins', () => {
  const origin = 'https://app.example.test';
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(loadConfig(testEnv({ CORS_ORIGINS: `${origin},https://admin.example.test` })));
  });

  afterAll(() => running.close());

  it('keeps Vary: Origin on cacheable replies and their 304s, each name once, compressed or not', async () => {
    // Two members with long bios make the city's page larger than the compression threshold.
    const city = uniqueCity();
    const profile = await createProfile(running.url, await registerAccount(running.url), {
      bio: 'b'.repeat(1000),
      location: { city, country: 'DE', lat: 52.52, lng: 13.405 },
    });
    await createProfile(running.url, await registerAccount(running.url), {
      bio: 'c'.repeat(1000),
      location: { city, country: 'DE', lat: 52.52, lng: 13.405 },
    });
    const cases: [string, string, string][] = [
      ['/v1/plans', 'identity', 'origin, accept-encoding'],
      [`/v1/profiles?city=${encodeURIComponent(city)}`, 'gzip', 'origin, accept-encoding'],
      [`/v1/profiles/${profile.id}`, 'gzip', 'origin, authorization, accept-encoding'],
    ];
    for (const [path, encoding, vary] of cases) {
      const headers = { origin, 'accept-encoding': encoding };
      const first = await fetch(`${running.url}${path}`, { headers });
      expect(first.status, path).toBe(200);
      expect(first.headers.get('content-encoding') ?? 'identity', path).toBe(encoding);
      expect(first.headers.get('access-control-allow-origin'), path).toBe(origin);
      // Access-Control-Allow-Origin names the caller's origin: without Origin in Vary, a browser's or CDN's copy
      // fetched from one origin (or without one) answers another, and the browser refuses it.
      expect(first.headers.get('vary'), path).toBe(vary);
      const again = await fetch(`${running.url}${path}`, {
        headers: { ...headers, 'if-none-match': first.headers.get('etag')! },
      });
      expect(again.status, path).toBe(304);
      expect(again.headers.get('vary'), path).toBe(vary);
    }
  });
});

/**
 * Reads, on each app, the profile ids this process will make next, so each app caches them as missing, and returns
 * them. An ObjectId is seconds, five bytes fixed per process and a counter: anyone who saw one id can list the next
 * ones. The apps run in this process, so the next ids follow this one. Guessed again if reading the guesses took so
 * long (a loaded machine) that a create would fall after the seconds guessed.
 */
async function readNextIdsAsMissing(apps: RunningApp[]): Promise<string[]> {
  let guesses: string[] = [];
  for (let attempt = 1; attempt <= 5; attempt++) {
    const seen = new Types.ObjectId();
    guesses = followingIds(seen, 10, 3);
    const reads = apps.flatMap((app) => guesses.map((id) => fetch(`${app.url}/v1/profiles/${id}`)));
    expect((await Promise.all(reads)).every((response) => response.status === 404)).toBe(true);
    if (Date.now() < seen.getTimestamp().getTime() + 2_000) break;
  }
  return guesses;
}

/** The ids this process makes after `seen`: the next `count` counter values, in this second and the next few. */
function followingIds(seen: Types.ObjectId, count: number, seconds: number): string[] {
  const hex = seen.toHexString();
  const [time, fixed, counter] = [parseInt(hex.slice(0, 8), 16), hex.slice(8, 18), parseInt(hex.slice(18), 16)];
  return Array.from({ length: seconds }, (_, second) =>
    Array.from({ length: count }, (_, step) => {
      const next = (counter + step + 1) % 0x1000000;
      return `${(time + second).toString(16).padStart(8, '0')}${fixed}${next.toString(16).padStart(6, '0')}`;
    }),
  ).flat();
}
