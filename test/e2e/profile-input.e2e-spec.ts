import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SearchKeyMigration } from '../../src/profiles/search-key-migration.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile, profileInput, type ProfileInput } from '../factories/profiles.js';
import { uniqueCity } from '../factories/names.js';
import { callJson, type JsonReply } from '../support/json-call.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

type Page = { items: { id: string; interests?: string[] }[] };
type CityCount = { city: string; country: string; count: number };

/**
 * Profile input that is valid however a client spells it (Unicode normal forms, repeated parameters, tiny numbers)
 * is accepted and found; input that is not (invisible characters, a null body) is a problem+json 400 that changes
 * nothing.
 */
describe('profile input', () => {
  let running: RunningApp;
  let url: string;

  beforeAll(async () => {
    running = await startApp(testConfig());
    url = running.url;
  });

  afterAll(async () => {
    await running.close();
  });

  const call = (method: string, path: string, account?: Account, body?: unknown) =>
    callJson(url, method, path, account, body);
  const expectProblem400 = (response: JsonReply, label: unknown) => {
    expect({ label, status: response.status }).toEqual({ label, status: 400 });
    expect(response.contentType, JSON.stringify(label)).toMatch(/^application\/problem\+json/);
  };
  const seed = async (city: string, overrides: Partial<ProfileInput> = {}) =>
    createProfile(url, await registerAccount(url), {
      ...overrides,
      location: { city, country: 'DE', lat: 50, lng: 10 },
    });
  const searchIds = async (query: string): Promise<string[]> => {
    const response = await call('GET', `/v1/profiles?${query}`);
    expect(response.status, query).toBe(200);
    return (response.body as unknown as Page).items.map((item) => item.id).sort();
  };

  it('takes a city and interests with accents precomposed or combining as one city and one tag', async () => {
    const city = `São ${uniqueCity()}`;
    const composed = await seed(city.normalize('NFC'), { interests: ['café'.normalize('NFC')] });
    const decomposed = await seed(city.normalize('NFD'), { interests: ['café'.normalize('NFD')] });
    const both = [composed.id, decomposed.id].sort();

    for (const spelling of [city.normalize('NFC'), city.normalize('NFD')]) {
      expect(await searchIds(`city=${encodeURIComponent(spelling)}`)).toEqual(both);
      const cafe = encodeURIComponent('CAFÉ'.normalize('NFD'));
      expect(await searchIds(`city=${encodeURIComponent(spelling)}&interests=${cafe}`)).toEqual(both);
    }
    const cities = (await call('GET', '/v1/locations/cities')).body as unknown as CityCount[];
    expect(cities.filter((entry) => entry.city.normalize('NFC') === city.normalize('NFC'))).toEqual([
      { city: city.normalize('NFC'), country: 'DE', count: 2 },
    ]);
  });

  it('tells a city from its namesake in another country by `country`, typed in any case; a code that is none is 400', async () => {
    const city = uniqueCity();
    const inFrance = await createProfile(url, await registerAccount(url), {
      location: { city, country: 'fr', lat: 48.86, lng: 2.35 },
    });
    const inTexas = await createProfile(url, await registerAccount(url), {
      location: { city, country: 'US', lat: 33.66, lng: -95.56 },
    });
    const named = encodeURIComponent(city);
    expect(await searchIds(`city=${named}`)).toEqual([inFrance.id, inTexas.id].sort());
    expect(await searchIds(`city=${named}&country=us`)).toEqual([inTexas.id]);
    expect(await searchIds(`city=${named}&country=FR`)).toEqual([inFrance.id]);
    expect(await searchIds(`city=${named}&country=DE`)).toEqual([]);
    // Without a city: every public profile of the country, this one among them.
    expect(await searchIds(`country=fr&limit=100`)).toContain(inFrance.id);
    for (const country of ['France', 'ZZ', '', 'u'])
      expectProblem400(await call('GET', `/v1/profiles?city=${named}&country=${country}`), country);
  });

  it('finds a city of 80 characters by a spelling longer before normalising (combining accents, spaces)', async () => {
    const unique = uniqueCity();
    const city = `${unique} ${'é'.repeat(79 - unique.length)}`.normalize('NFC');
    expect(city).toHaveLength(80);
    const profile = await seed(city);
    const typed = `  ${city.normalize('NFD').replace(' ', '   ')}  `;
    expect(typed.length).toBeGreaterThan(80);
    expect(await searchIds(`city=${encodeURIComponent(typed)}`)).toEqual([profile.id]);
    expectProblem400(await call('GET', '/v1/profiles?city=%20%20'), 'a city of blanks');
  });

  it('finds İstanbul from a Turkish keyboard as Istanbul, a profile stored before that rule included', async () => {
    const town = uniqueCity();
    const turkish = await seed(`İstanbul ${town}`);
    const plain = await seed(`Istanbul ${town}`);
    // Saved before the rule, the key kept the combining dot that "İ".toLowerCase() gives.
    const profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
    const legacyKey = `İstanbul ${town}`.toLowerCase();
    await profiles.updateOne({ _id: new Types.ObjectId(turkish.id) }, { $set: { 'location.cityKey': legacyKey } });
    expect(await running.app.get(SearchKeyMigration).run()).toBeGreaterThanOrEqual(1);

    for (const spelling of [`İstanbul ${town}`, `ISTANBUL ${town}`]) {
      expect(await searchIds(`city=${encodeURIComponent(spelling)}`)).toEqual([turkish.id, plain.id].sort());
    }
    const cities = (await call('GET', '/v1/locations/cities')).body as unknown as CityCount[];
    expect(cities.filter((entry) => entry.city.endsWith(town)).map((entry) => entry.count)).toEqual([2]);
  });

  /**
   * A profile under each spelling of one city (each ending in the same unique word), the first with its city key as
   * `legacyKey` gives it (stored before the rule): after the search key migration every spelling finds them all and
   * the cities list counts them as one city. The profiles and accounts are removed afterwards.
   */
  const expectOneCity = async (spellings: string[], legacyKey: (city: string) => string) => {
    const profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
    const members: Account[] = [];
    try {
      const ids: string[] = [];
      for (const city of spellings) {
        members.push(await registerAccount(url));
        ids.push(
          (await createProfile(url, members.at(-1)!, { location: { city, country: 'DE', lat: 50, lng: 10 } })).id,
        );
      }
      const [first] = spellings;
      const legacy = { $set: { 'location.cityKey': legacyKey(first) } };
      await profiles.updateOne({ _id: new Types.ObjectId(ids[0]) }, legacy);
      await running.app.get(SearchKeyMigration).run();
      for (const spelling of spellings) {
        const found = await searchIds(`city=${encodeURIComponent(spelling)}`);
        expect({ spelling, found }).toEqual({ spelling, found: [...ids].sort() });
      }
      const cities = (await call('GET', '/v1/locations/cities')).body as unknown as CityCount[];
      const town = first.split(/\s/).at(-1)!;
      expect(cities.filter((entry) => entry.city.endsWith(town)).map((entry) => entry.count)).toEqual([ids.length]);
    } finally {
      const userIds = members.map((member) => new Types.ObjectId(member.userId));
      await profiles.deleteMany({ userId: { $in: userIds } });
      await running.app
        .get<Connection>(getConnectionToken())
        .collection('users')
        .deleteMany({ _id: { $in: userIds } });
    }
  };

  it('finds Gießen typed in capitals, GIESSEN, or as the Swiss write it, Giessen, as one city', async () => {
    const town = uniqueCity().split(' ')[1];
    const spellings = [`Gießen ${town}`, `GIESSEN ${town}`, `Giessen ${town}`, `GIEẞEN ${town}`];
    // Keys stored before the rule kept "ß".
    await expectOneCity(spellings, (city) => city.toLowerCase());
  });

  it('finds Aydın typed without the Turkish dotless ı, AYDIN or Aydin, as one city', async () => {
    const town = uniqueCity().split(' ')[1];
    // Keys stored before the rule kept "ı".
    await expectOneCity([`Aydın ${town}`, `AYDIN ${town}`, `Aydin ${town}`], (city) => city.toLowerCase());
  });

  it('finds a city typed in full-width letters, as a Japanese or Chinese keyboard may, as the same city', async () => {
    const town = uniqueCity().split(' ')[1];
    // Keys stored before the rule kept the full-width letters.
    await expectOneCity([`Ｍｕｎｉｃｈ\u3000${town}`, `Munich ${town}`], (city) =>
      city.toLowerCase().replace('\u3000', ' '),
    );
  });

  it('takes a Persian city and interest spelled with a ZWNJ, and finds the city typed without it', async () => {
    const town = uniqueCity().split(' ')[1];
    // Khorramabad and "book reading" as a Persian keyboard spells them: the ZWNJ keeps the letters either side apart.
    const city = `\u062e\u0631\u0645\u200c\u0622\u0628\u0627\u062f ${town}`;
    const interest = '\u06a9\u062a\u0627\u0628\u200c\u062e\u0648\u0627\u0646\u06cc';
    const member = await registerAccount(url);
    const profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
    try {
      const created = await call('POST', '/v1/profiles', member, {
        ...profileInput({ interests: [interest] }),
        location: { city, country: 'IR', lat: 33.49, lng: 48.36 },
      });
      expect(created.status).toBe(201);
      const body = created.body as { id: string; interests: string[]; location: { city: string } };
      expect({ city: body.location.city, interests: body.interests }).toEqual({ city, interests: [interest] });
      for (const spelling of [city, city.replace('\u200c', '')]) {
        expect(await searchIds(`city=${encodeURIComponent(spelling)}`)).toEqual([body.id]);
      }
      expect(await searchIds(`city=${encodeURIComponent(city)}&interests=${encodeURIComponent(interest)}`)).toEqual([
        body.id,
      ]);
    } finally {
      await profiles.deleteMany({ userId: new Types.ObjectId(member.userId) });
      const users = running.app.get<Connection>(getConnectionToken()).collection('users');
      await users.deleteMany({ _id: new Types.ObjectId(member.userId) });
    }
  });

  it('finds an interest typed with a Turkish İ by its plain spelling, one stored before that rule included', async () => {
    const town = uniqueCity();
    const typed = await seed(town, { interests: ['İngilizce'] });
    const stored = await seed(town, { interests: ['Ingilizce', 'chess'] });
    // Saved before the rule: the tag kept the combining dot that "İ".toLowerCase() gives, beside its plain spelling.
    const profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
    const legacy = ['i\u0307ngilizce', 'chess', 'ingilizce'];
    await profiles.updateOne({ _id: new Types.ObjectId(stored.id) }, { $set: { interests: legacy } });
    expect(await running.app.get(SearchKeyMigration).run()).toBeGreaterThanOrEqual(1);

    for (const spelling of ['ingilizce', 'İngilizce', 'INGILIZCE']) {
      const found = await searchIds(`city=${encodeURIComponent(town)}&interests=${encodeURIComponent(spelling)}`);
      expect({ spelling, found }).toEqual({ spelling, found: [typed.id, stored.id].sort() });
    }
    const after = await profiles.findOne({ _id: new Types.ObjectId(stored.id) });
    expect(after?.interests).toEqual(['ingilizce', 'chess']);
  });

  it('finds a tag typed in full-width letters or with two spaces by its plain spelling, stored ones too', async () => {
    const town = uniqueCity();
    const hiking = '\uff48\uff49\uff4b\uff49\uff4e\uff47';
    const typed = await seed(town, { interests: [hiking.toUpperCase(), 'rock  climbing'] });
    const [climber, hiker] = [await seed(town), await seed(town)];
    // Saved before the rule (2026-12-07), as they came: found by no other spelling. The first is plain ASCII.
    const profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
    const store = (id: string, interests: string[]) =>
      profiles.updateOne({ _id: new Types.ObjectId(id) }, { $set: { interests } });
    await store(climber.id, ['rock  climbing', 'chess']);
    await store(hiker.id, [hiking]);
    expect(await running.app.get(SearchKeyMigration).run()).toBeGreaterThanOrEqual(2);

    const found = (spelling: string) =>
      searchIds(`city=${encodeURIComponent(town)}&interests=${encodeURIComponent(spelling)}`);
    for (const spelling of ['hiking', hiking])
      expect({ spelling, found: await found(spelling) }).toEqual({ spelling, found: [typed.id, hiker.id].sort() });
    for (const spelling of ['Rock Climbing', 'rock   climbing'])
      expect({ spelling, found: await found(spelling) }).toEqual({ spelling, found: [typed.id, climber.id].sort() });
    const ids = [climber.id, hiker.id].map((id) => new Types.ObjectId(id));
    const stored = await profiles.find({ _id: { $in: ids } }).toArray();
    expect(stored.map((profile) => profile.interests as string[]).sort()).toEqual([
      ['hiking'],
      ['rock climbing', 'chess'],
    ]);
  });

  it('reads a repeated interests parameter as the comma-separated one, limits included', async () => {
    const city = uniqueCity();
    const climber = await seed(city, { interests: ['climbing'] });
    const inCity = `city=${encodeURIComponent(city)}`;
    expect(await searchIds(`${inCity}&interests=Climbing`)).toEqual([climber.id]);
    expect(await searchIds(`${inCity}&interests=Climbing&interests=Climbing`)).toEqual([climber.id]);
    expect(await searchIds(`${inCity}&interests=chess,sailing&interests=%20CLIMBING%20`)).toEqual([climber.id]);
    const eleven = Array.from({ length: 11 }, (_, i) => `interests=tag${i}`).join('&');
    expectProblem400(await call('GET', `/v1/profiles?${inCity}&${eleven}`), 'eleven interests');
  });

  it('takes İstanbul as an interest and finds it by the same spelling', async () => {
    const city = uniqueCity();
    const owner = await registerAccount(url);
    const created = await call('POST', '/v1/profiles', owner, {
      ...profileInput({ interests: ['İstanbul'] }),
      location: { city, country: 'TR', lat: 41, lng: 29 },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(await searchIds(`city=${encodeURIComponent(city)}&interests=${encodeURIComponent('İstanbul')}`)).toEqual([
      id,
    ]);
  });

  it('takes Kosovo as its geocoders name it (XK), and still refuses a code no country has', async () => {
    const owner = await registerAccount(url);
    const location = { city: 'Prishtina', country: 'xk', lat: 42.663, lng: 21.164 };
    const created = await call('POST', '/v1/profiles', owner, { ...profileInput(), location });
    expect(created.status).toBe(201);
    expect(created.body.location).toMatchObject({ city: 'Prishtina', country: 'XK' });
    const other = await registerAccount(url);
    const refused = await call('POST', '/v1/profiles', other, {
      ...profileInput(),
      location: { ...location, country: 'XX' },
    });
    expectProblem400(refused, 'country XX');
  });

  it('takes coordinates close to zero, in a profile and in a nearby search however a client prints them', async () => {
    const owner = await registerAccount(url);
    const created = await call('POST', '/v1/profiles', owner, {
      ...profileInput(),
      location: { city: uniqueCity(), country: 'GH', lat: 0.0000001, lng: -0.0000005 },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    try {
      // OpenAPI documents lat and lng as numbers; generated clients print small ones with an exponent: JavaScript's
      // String(1e-7) is "1e-7", Java's Double.toString(-5e-7) "-5.0E-7", Python's str(1e-07) "1e-07".
      const printed = ['lat=1e-7&lng=0', 'lat=0&lng=-5.0E-7', 'lat=1e-07&lng=-5e-07'];
      for (const point of ['lat=0.0000001&lng=0', 'lat=0&lng=-0.0000005', ...printed]) {
        const nearby = await call('GET', `/v1/profiles/nearby?${point}&radiusKm=1&limit=100`);
        expect(nearby.status, point).toBe(200);
        expect(
          (nearby.body as unknown as { id: string }[]).map((item) => item.id),
          point,
        ).toContain(id);
      }
      for (const point of ['lat=90.5&lng=0', 'lat=9.05e1&lng=0', 'lat=0x1&lng=0', 'lat=.5&lng=0']) {
        expectProblem400(await call('GET', `/v1/profiles/nearby?${point}`), point);
      }
    } finally {
      // The worker's database outlives the run: profiles left at (0, 0) would crowd later runs' pages.
      expect((await call('DELETE', `/v1/profiles/${id}`, owner)).status).toBe(204);
    }
  });

  it('refuses display names with line separators or invisible characters, creating nothing', async () => {
    const account = await registerAccount(url);
    const names = [
      'Ann\u2028Bob',
      'Ann\u2029Bob',
      '\ufeffAnn',
      'Ann\u{E0041}\u{E0042}',
      'Ab' + '\u200b'.repeat(48),
      '\u3164\u3164',
      'Ann\u115f',
      'Ann\u1160',
      'Ann\uffa0',
    ];
    for (const displayName of names) {
      const response = await call('POST', '/v1/profiles', account, profileInput({ displayName }));
      expectProblem400(response, displayName);
      expect(response.body.errors).toContainEqual(expect.objectContaining({ field: 'displayName' }));
    }
    const astronaut = await call('POST', '/v1/profiles', account, profileInput({ displayName: 'Zoë 👩\u200d🚀' }));
    expect(astronaut.status).toBe(201);
    expect(astronaut.body.displayName).toBe('Zoë 👩\u200d🚀');
  });

  it('refuses a null or missing body as it refuses [] and 5, changing and creating nothing', async () => {
    const owner = await registerAccount(url);
    const profile = await createProfile(url, owner);
    const before = await call('GET', `/v1/profiles/${profile.id}`, owner);
    const newcomer = await registerAccount(url);
    const send = async (method: string, path: string, account: Account, body: string | undefined) => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...account.auth },
        body,
      });
      return { response, problem: (await response.json()) as { errors?: unknown } };
    };
    const notAnObject = [{ field: 'body', message: 'Validation failed (object is expected)' }];
    const requests: [string, string, Account, string | undefined][] = [
      ...['null', undefined, '[]', '5'].map((body): [string, string, Account, string | undefined] => [
        'PATCH',
        `/v1/profiles/${profile.id}`,
        owner,
        body,
      ]),
      ['POST', '/v1/profiles', newcomer, 'null'],
      ['POST', '/v1/profiles', newcomer, undefined],
    ];
    for (const [method, path, account, body] of requests) {
      const label = `${method} ${body ?? 'without a body'}`;
      const { response, problem } = await send(method, path, account, body);
      expect({ label, status: response.status }).toEqual({ label, status: 400 });
      expect(response.headers.get('content-type'), label).toMatch(/^application\/problem\+json/);
      expect(problem.errors, label).toEqual(notAnObject);
    }
    // Not even lastActiveAt moved; the newcomer has no profile yet.
    expect((await call('GET', `/v1/profiles/${profile.id}`, owner)).body).toEqual(before.body);
    expect((await call('POST', '/v1/profiles', newcomer, profileInput())).status).toBe(201);
  });
});
