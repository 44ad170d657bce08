import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile, profileInput } from '../factories/profiles.js';
import { callJson, type JsonReply } from '../support/json-call.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/**
 * Input that once got past validation: a 500, or a 200 that stored something no client should be able to store.
 * Each is now a problem+json 400 that changes nothing, which the tests read back.
 */
describe('input validation', () => {
  const SECRET = 'a-webhook-secret-of-at-least-32-characters';
  /** 24 characters that class-validator's IsMongoId took for an ObjectId and the driver did not. */
  const HEX_PREFIXED_ID = '0x0123456789abcdef012345';
  let running: RunningApp;
  let url: string;

  beforeAll(async () => {
    running = await startApp(testConfig({ PAYMENT_WEBHOOK_SECRET: SECRET }));
    url = running.url;
  });

  afterAll(async () => {
    await running.close();
  });

  const call = (method: string, path: string, account?: Account, body?: unknown) =>
    callJson(url, method, path, account, body);
  const expectProblem400 = (response: { status: number; contentType: string }, label: unknown) => {
    expect({ label, status: response.status }).toEqual({ label, status: 400 });
    expect(response.contentType, JSON.stringify(label)).toMatch(/^application\/problem\+json/);
  };
  /** The owner's view of a profile: every stored field a member can set. */
  const stored = async (id: string, owner: Account) => {
    const read = await call('GET', `/v1/profiles/${id}`, owner);
    expect(read.status).toBe(200);
    return read.body;
  };
  /** Nothing was created: the account's one profile can still be created. */
  const expectNoProfile = async (account: Account) => {
    expect((await call('POST', '/v1/profiles', account, profileInput())).status).toBe(201);
  };

  describe('nested objects', () => {
    const berlin = { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.405 };

    it('refuses a profile whose location is missing, null, an array or not an object, creating nothing', async () => {
      const account = await registerAccount(url);
      const { location: _omitted, ...withoutLocation } = profileInput();
      const locations: [string, unknown][] = [
        ['null', null],
        ['an array', [berlin]],
        ['an empty array', []],
        ['a string', 'Berlin'],
      ];
      const bodies: [string, object][] = [
        ['missing', withoutLocation],
        ...locations.map(([label, location]): [string, object] => [label, { ...withoutLocation, location }]),
      ];
      for (const [label, body] of bodies) {
        const response = await call('POST', '/v1/profiles', account, body);
        expectProblem400(response, label);
        expect(response.body.errors).toContainEqual(expect.objectContaining({ field: 'location' }));
      }
      await expectNoProfile(account);
    });

    it('refuses a location patch that is null, an array or not an object, leaving the location as it was', async () => {
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner, { location: { ...berlin, city: 'Potsdam' } });
      for (const location of [null, [berlin], [], 'Berlin', 42]) {
        expectProblem400(await call('PATCH', `/v1/profiles/${profile.id}`, owner, { location }), location);
      }
      expect((await stored(profile.id, owner)).location).toEqual({ ...berlin, city: 'Potsdam' });
    });
  });

  describe("fields named after Object.prototype's members", () => {
    it('refuses them like any field a DTO lacks, at the top and nested, changing nothing', async () => {
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner);
      const bodies: [object, string][] = [
        [{ constructor: 'x', bio: 'changed' }, 'constructor'],
        [{ toString: 'x', bio: 'changed' }, 'toString'],
        [{ location: { ...profileInput().location, valueOf: 1 }, bio: 'changed' }, 'location.valueOf'],
        // Not a member of Object.prototype, but Nest's ValidationPipe deletes it before the whitelist sees it.
        [{ prototype: { x: 1 }, bio: 'changed' }, 'prototype'],
        [{ location: { ...profileInput().location, prototype: 'x' }, bio: 'changed' }, 'location.prototype'],
      ];
      for (const [body, field] of bodies) {
        const response = await call('PATCH', `/v1/profiles/${profile.id}`, owner, body);
        expectProblem400(response, field);
        expect(response.body.errors).toEqual([{ field, message: `property ${field} should not exist` }]);
      }
      expect((await stored(profile.id, owner)).bio).toBe(profile.bio);
      const credentials = { email: `proto-${randomUUID()}@example.test`, password: 'long enough password' };
      const registration = await call('POST', '/v1/auth/register', undefined, { ...credentials, hasOwnProperty: 'x' });
      expectProblem400(registration, 'register');
      expect(registration.body.errors).toEqual([
        { field: 'hasOwnProperty', message: 'property hasOwnProperty should not exist' },
      ]);
    });
  });

  describe('payment webhooks', () => {
    const deliver = async (event: object) => {
      const body = JSON.stringify(event);
      const response = await fetch(`${url}/v1/subscriptions/webhooks/fake`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'vesta-signature': sign(SECRET, body, Math.floor(Date.now() / 1000)),
        },
        body,
      });
      const text = await response.text();
      return {
        status: response.status,
        contentType: response.headers.get('content-type') ?? '',
        body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
      };
    };

    it('refuses an event without a data object before claiming its id, so the corrected redelivery applies', async () => {
      const member = await registerAccount(url);
      const subscribed = await fetch(`${url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
        body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
      });
      expect(subscribed.status).toBe(201);
      const id = `evt_${randomUUID()}`;
      const event = { id, type: 'invoice.payment_failed' };
      for (const data of [undefined, null, [], [{ userId: member.userId }], 'x', {}]) {
        expectProblem400(await deliver({ ...event, data }), data ?? 'no data');
      }
      const connection = running.app.get<Connection>(getConnectionToken());
      expect(await connection.collection('webhook_events').countDocuments({ _id: `fake:${id}` as never })).toBe(0);
      expect((await call('GET', '/v1/subscriptions/me', member)).body.status).toBe('active');
      // A failed payment counts once the paid period is over.
      await connection
        .collection('subscriptions')
        .updateOne(
          { userId: new Types.ObjectId(member.userId) },
          { $set: { currentPeriodEnd: new Date(Date.now() - 1_000) } },
        );

      const corrected = await deliver({ ...event, data: { userId: member.userId } });
      expect(corrected.status).toBe(200);
      expect(corrected.body).toEqual({ received: true, duplicate: false });
      expect((await call('GET', '/v1/subscriptions/me', member)).body.status).toBe('past_due');
    });

    it('refuses a member id spelled 0x… before claiming the event, instead of a 500 on every redelivery', async () => {
      const id = `evt_${randomUUID()}`;
      for (const userId of [HEX_PREFIXED_ID, HEX_PREFIXED_ID.toUpperCase(), HEX_PREFIXED_ID.replace('x', 'h')]) {
        const response = await deliver({ id, type: 'invoice.paid', data: { userId, chargeId: `ch_${randomUUID()}` } });
        expectProblem400(response, userId);
        expect(response.body.errors).toContainEqual(expect.objectContaining({ field: 'data.userId' }));
      }
      const connection = running.app.get<Connection>(getConnectionToken());
      expect(await connection.collection('webhook_events').countDocuments({ _id: `fake:${id}` as never })).toBe(0);
    });
  });

  describe('media ids', () => {
    it('refuses photo ids spelled 0x… or 0h…, which validator.js reads as hexadecimal, creating and changing nothing', async () => {
      const account = await registerAccount(url);
      for (const photoId of [HEX_PREFIXED_ID, HEX_PREFIXED_ID.toUpperCase(), HEX_PREFIXED_ID.replace('x', 'h')]) {
        const response = await call('POST', '/v1/profiles', account, { ...profileInput(), photoIds: [photoId] });
        expectProblem400(response, photoId);
        expect(response.body.errors).toEqual([
          { field: 'photoIds', message: 'each value in photoIds must be a 24-character hexadecimal ObjectId' },
        ]);
      }
      await expectNoProfile(account);
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner);
      const patch = await call('PATCH', `/v1/profiles/${profile.id}`, owner, { photoIds: [HEX_PREFIXED_ID] });
      expectProblem400(patch, 'patch');
      expect((await stored(profile.id, owner)).photoIds).toEqual(profile.photoIds);
    });
  });

  describe('null fields', () => {
    const fields = ['displayName', 'bio', 'birthDate', 'gender', 'interestedIn', 'interests', 'photoIds'] as const;

    it.each([...fields, 'visibility', 'location'])(
      'refuses a patch setting %s to null, storing nothing',
      async (field) => {
        const owner = await registerAccount(url);
        const profile = await createProfile(url, owner, { visibility: 'public' });
        const before = await stored(profile.id, owner);
        const response = await call('PATCH', `/v1/profiles/${profile.id}`, owner, { [field]: null });
        expectProblem400(response, field);
        expect(response.body.errors).toContainEqual(expect.objectContaining({ field }));
        const after = await stored(profile.id, owner);
        expect({ ...after, views: before.views }).toEqual(before);
      },
    );

    it('refuses null for the optional fields on create too, instead of reading it as the default', async () => {
      const account = await registerAccount(url);
      for (const field of ['bio', 'interests', 'photoIds', 'visibility']) {
        expectProblem400(await call('POST', '/v1/profiles', account, { ...profileInput(), [field]: null }), field);
      }
      await expectNoProfile(account);
    });
  });

  describe('birth dates', () => {
    const invalid = [true, false, 0, 631152000000, '1990', '1990-02-30', '1990-2-3', '1990-01-01T12:00:00Z', ''];

    it('refuses a birth date that is not a YYYY-MM-DD day of the calendar, on create and on patch', async () => {
      const account = await registerAccount(url);
      for (const birthDate of invalid) {
        const response = await call('POST', '/v1/profiles', account, { ...profileInput(), birthDate });
        expectProblem400(response, birthDate);
        expect(response.body.errors).toEqual([
          { field: 'birthDate', message: 'birthDate must be a calendar date written as YYYY-MM-DD' },
        ]);
      }
      await expectNoProfile(account);

      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner, { birthDate: '1990-02-28' });
      for (const birthDate of invalid) {
        expectProblem400(await call('PATCH', `/v1/profiles/${profile.id}`, owner, { birthDate }), birthDate);
      }
      expect((await stored(profile.id, owner)).birthDate).toBe('1990-02-28');
    });

    it('stores a real day as given, leap days included, and still refuses minors', async () => {
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner, { birthDate: '2000-02-29' });
      // Read back in the form it was written in, which can be sent again as it is.
      expect((await stored(profile.id, owner)).birthDate).toBe('2000-02-29');
      const echoed = await call('PATCH', `/v1/profiles/${profile.id}`, owner, { birthDate: '2000-02-29' });
      expect(echoed.status).toBe(200);
      // Midnight UTC as a full timestamp, which earlier versions sent back, is still taken.
      const timestamp = await call('PATCH', `/v1/profiles/${profile.id}`, owner, {
        birthDate: '2000-02-29T00:00:00.000Z',
      });
      expect(timestamp.status).toBe(200);
      const minor = new Date();
      minor.setUTCFullYear(minor.getUTCFullYear() - 17);
      const tooYoung = await call('PATCH', `/v1/profiles/${profile.id}`, owner, {
        birthDate: minor.toISOString().slice(0, 10),
      });
      expectProblem400(tooYoung, 'minor');
      expect(tooYoung.body.errors).toEqual([{ field: 'birthDate', message: 'you must be at least 18' }]);
    });
  });

  describe('numbers in query strings', () => {
    it.each([
      'lat=&lng=',
      'lat=%20&lng=%20',
      'lat=0x10&lng=13',
      'lat=52&lng=0x10',
      'lat=1e&lng=13',
      'lat=1e400&lng=13',
      'lat=52.&lng=13',
      'lat=%2052&lng=13',
      'lat=52&lng=13&radiusKm=0x5',
      'lat=52&lng=13&radiusKm=',
      'lat=52&lng=13&limit=1e1',
      'lat=52&lng=13&limit=10.0',
    ])('refuses nearby?%s', async (query) => {
      expectProblem400(await call('GET', `/v1/profiles/nearby?${query}`), query);
    });

    it.each(['minAge=0x14', 'minAge=%2018', 'minAge=', 'maxAge=3e1', 'maxAge=30.0', 'limit=%20', 'limit=%2B5'])(
      'refuses search?%s',
      async (query) => {
        expectProblem400(await call('GET', `/v1/profiles?${query}`), query);
      },
    );

    it('still reads plain decimals and integers', async () => {
      expect((await call('GET', '/v1/profiles/nearby?lat=52.52&lng=-13&radiusKm=5&limit=3')).status).toBe(200);
      expect((await call('GET', '/v1/profiles?minAge=20&maxAge=030&limit=5')).status).toBe(200);
    });
  });

  describe('escapes in query strings', () => {
    it('refuses a query string that does not decode instead of searching for its escapes as text', async () => {
      const member = await registerAccount(url);
      const city = `Zürich-${randomUUID().slice(0, 8).replace(/\d/g, 'x')}`;
      const { id } = await createProfile(url, member, {
        location: { city, country: 'CH', lat: 47.37, lng: 8.54 },
        interests: ['käse'],
      });
      const utf8 = await call('GET', `/v1/profiles?city=${encodeURIComponent(city)}&interests=k%C3%A4se`);
      expect(utf8.status).toBe(200);
      expect((utf8.body as { items: { id: string }[] }).items.map((item) => item.id)).toEqual([id]);
      // The same city in Latin-1 ("ü" is the byte FC), broken escapes and an overlong "/": each was a 200 with an
      // empty page, the escapes read as part of the name.
      const latin1City = city.replace('ü', '%FC');
      for (const query of [`city=${latin1City}`, 'interests=k%E4se', 'city=%ZZrich', 'city=Z%C3', 'cursor=%C0%AF']) {
        const refused = await call('GET', `/v1/profiles?${query}`);
        expectProblem400(refused, query);
        expect((refused.body as { detail: string }).detail, query).toMatch(/percent-encoding/);
      }
    });
  });

  describe('ranges and repeats in query strings', () => {
    it('refuses an age range whose maxAge is below its minAge, naming both', async () => {
      const refused = await call('GET', '/v1/profiles?minAge=30&maxAge=20');
      expectProblem400(refused, 'search');
      expect(refused.body.errors).toEqual([{ field: 'maxAge', message: 'maxAge (20) must not be below minAge (30)' }]);
      expect((await call('GET', '/v1/profiles?minAge=30&maxAge=30')).status).toBe(200);
    });

    it('says plainly that a single-value parameter was given more than once', async () => {
      for (const [path, name] of [
        ['/v1/profiles?city=a&city=b', 'city'],
        ['/v1/profiles?limit=5&limit=5', 'limit'],
        ['/v1/profiles/nearby?lat=1&lat=2&lng=3', 'lat'],
      ]) {
        const refused = await call('GET', path);
        expectProblem400(refused, path);
        expect(refused.body.errors, path).toEqual([
          { field: name, message: `${name} takes one value but was given 2 times` },
        ]);
      }
    });

    it('still takes repeats of the parameters that take several values', async () => {
      expect(
        (await call('GET', '/v1/profiles?interests=chess&interests=sailing&fields=age&fields=displayName')).status,
      ).toBe(200);
    });
  });

  describe('member text', () => {
    const badCities = ['   ', '\u200b\u200b', 'A\u0000nn', '\u202eAnn', 'Ann\u2066x', '--', '\u0301'];
    // A city's line breaks are folded into spaces before it is checked; a name's are not.
    const badNames = [...badCities, 'Ann\nLee'];

    it('refuses blank, invisible, control and bidi-override display names and cities, creating nothing', async () => {
      const account = await registerAccount(url);
      for (const displayName of badNames) {
        expectProblem400(await call('POST', '/v1/profiles', account, profileInput({ displayName })), displayName);
      }
      for (const city of badCities) {
        const location = { city, country: 'DE', lat: 52.52, lng: 13.405 };
        expectProblem400(await call('POST', '/v1/profiles', account, profileInput({ location })), city);
      }
      await expectNoProfile(account);
    });

    it('refuses such names, cities and bios in a patch, leaving the profile as it was', async () => {
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner, { displayName: 'Ann', bio: 'Climber.' });
      const before = await stored(profile.id, owner);
      const patches = [
        ...badNames.map((displayName) => ({ displayName })),
        ...badCities.map((city) => ({ location: { city, country: 'DE', lat: 52.52, lng: 13.405 } })),
        { bio: 'Nul\u0000' },
        { bio: 'Escape \u001b[2J' },
        { bio: '\u202eevil.exe' },
        { bio: 'isolate \u2067x\u2069' },
      ];
      for (const patch of patches) {
        expectProblem400(await call('PATCH', `/v1/profiles/${profile.id}`, owner, patch), patch);
      }
      const after = await stored(profile.id, owner);
      expect({ ...after, views: before.views }).toEqual(before);
    });

    it('accepts names in any script and bios over several lines', async () => {
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner, {
        displayName: 'Zoë 李',
        location: { city: 'São Paulo', country: 'BR', lat: -23.55, lng: -46.63 },
      });
      const bio = 'Climber.\nCook.\r\n\tBad at chess.';
      const patched = await call('PATCH', `/v1/profiles/${profile.id}`, owner, { bio });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ displayName: 'Zoë 李', bio, location: { city: 'São Paulo' } });
    });
  });

  describe('content types', () => {
    it('refuses a multipart body outside uploads instead of reading it as an empty change', async () => {
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner, { bio: 'before' });
      const form = new FormData();
      form.append('bio', 'after');
      const response = await fetch(`${url}/v1/profiles/${profile.id}`, {
        method: 'PATCH',
        headers: owner.auth,
        body: form,
      });
      expect(response.status).toBe(415);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await stored(profile.id, owner)).bio).toBe('before');
    });

    // With required fields, an array or a scalar was validated as an empty object: "email must be an email" for `[]`.
    it('says a JSON body that is not an object is not one, rather than listing the fields it lacks', async () => {
      const owner = await registerAccount(url);
      const profile = await createProfile(url, owner);
      for (const [method, path, account] of [
        ['POST', '/v1/auth/register', undefined],
        ['POST', '/v1/profiles', owner],
        ['PATCH', `/v1/profiles/${profile.id}`, owner],
      ] as const) {
        for (const body of [[], [{ email: 'ann@example.com' }], 5, 'text', true]) {
          const response = await call(method, path, account, body);
          expectProblem400(response, { path, body });
          expect((response.body as { errors: unknown }).errors, JSON.stringify({ path, body })).toEqual([
            { field: 'body', message: 'Validation failed (object is expected)' },
          ]);
        }
      }
    });
  });

  // The contract's `errors` lists field errors; these came from checks outside the DTOs and were generic problems
  // without it until 2026-12-08, so a client mapping errors to its form fields found none.
  describe('fields refused outside the DTOs', () => {
    const expectFieldError = (response: JsonReply, field: string, label: string) => {
      expectProblem400(response, label);
      expect({ label, type: response.body.type }).toEqual({ label, type: '/problems/validation-failed' });
      const errors = response.body.errors as { field: string; message: string }[];
      const fields = errors.map((error) => error.field);
      expect(fields, label).toEqual([field]);
      expect(errors[0]?.message, label).toMatch(/\w/);
    };
    const asReply = async (response: Response): Promise<JsonReply> => ({
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>,
    });
    const postWithKey = (path: string, account: Account, body: unknown, key?: string) => {
      const headers = { 'content-type': 'application/json', ...account.auth, ...(key && { 'idempotency-key': key }) };
      return fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) }).then(asReply);
    };

    it("names the cursor, the id in the path and the upload's file field", async () => {
      const member = await registerAccount(url);
      expectFieldError(await call('GET', '/v1/profiles?cursor=not-a-cursor', member), 'cursor', 'cursor');
      expectFieldError(await call('GET', '/v1/profiles/not-an-id', member), 'id', 'profile id');
      expectFieldError(await call('DELETE', '/v1/media/not-an-id', member), 'id', 'media id');
      const form = new FormData();
      form.append('photo', new Blob([Buffer.from('not read')], { type: 'image/png' }), 'a.png');
      const upload = await fetch(`${url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
      expectFieldError(await asReply(upload), 'file', 'upload');
    });

    it('names the Idempotency-Key, the plan and the paymentToken of a subscription, changing nothing', async () => {
      const member = await registerAccount(url);
      const premium = { plan: 'premium', paymentToken: 'tok_visa' };
      expectFieldError(await postWithKey('/v1/subscriptions', member, premium), 'Idempotency-Key', 'no key');
      const free = { plan: 'free', paymentToken: 'tok_visa' };
      expectFieldError(await postWithKey('/v1/subscriptions', member, free, randomUUID()), 'plan', 'free plan');
      expect((await call('GET', '/v1/subscriptions/me', member)).status).toBe(404);

      expect((await postWithKey('/v1/subscriptions', member, premium, randomUUID())).status).toBe(201);
      const upgrade = await postWithKey('/v1/subscriptions/me/plan', member, { plan: 'platinum' }, randomUUID());
      expectFieldError(upgrade, 'paymentToken', 'upgrade without a token');
      const toFree = await postWithKey('/v1/subscriptions/me/plan', member, { plan: 'free' }, randomUUID());
      expectFieldError(toFree, 'plan', 'downgrade to free');
      expect((await call('GET', '/v1/subscriptions/me', member)).body).toMatchObject({ plan: 'premium' });
    });
  });
});
