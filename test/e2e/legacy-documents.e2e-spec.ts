import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Collection, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TieredCache } from '../../src/cache/tiered-cache.js';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { login, registerAccount, type Account } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { uploadMedia } from '../factories/media.js';
import { profileDocument } from '../factories/profiles.js';
import { documentedCalls, type AnsweringCall, type JsonReply } from '../support/json-call.js';
import type { OpenApiConformance } from '../support/openapi-conformance.js';
import { startAppWithAdmin, type RunningApp } from '../support/test-app.js';

const SECRET = 'a-webhook-secret-of-at-least-32-characters';
const DAY_MS = 24 * 3600 * 1000;

/**
 * Documents as earlier versions wrote them, or as an operator left them after editing by hand (mongosh), inserted with
 * the driver past mongoose: whatever the API does with them, it answers 2xx or a 4xx problem, never a 500.
 */
describe('documents written by earlier versions or by hand', () => {
  let running: RunningApp;
  let url: string;
  let call: (...args: AnsweringCall) => Promise<JsonReply>;
  let conformance: OpenApiConformance;
  let admin: Account;
  let profiles: Collection;
  let subscriptions: Collection;
  let users: Collection;

  beforeAll(async () => {
    ({ running, admin } = await startAppWithAdmin('legacy-documents', { PAYMENT_WEBHOOK_SECRET: SECRET }));
    url = running.url;
    ({ call, conformance } = await documentedCalls(url));
    const connection = running.app.get<Connection>(getConnectionToken());
    profiles = connection.collection('profiles');
    subscriptions = connection.collection('subscriptions');
    users = connection.collection('users');
  });

  // Every answer is held to the OpenAPI document (documentedCalls).
  afterEach(() => {
    expect(conformance.take()).toEqual([]);
  });

  afterAll(async () => {
    await running.close();
  });

  const upload = async (account: Account) => (await uploadMedia(url, account, pngStructure(2_000))).id;

  /**
   * A profile as the first version stored it (2026-11-23): geohash cells instead of the nearby cell, no publicSince,
   * no viewBatchSeq; `changes` set fields, and remove those set to undefined.
   */
  const insertProfile = async (member: Account, changes: Record<string, unknown> = {}): Promise<string> => {
    const document = profileDocument(member, {
      displayName: 'Old',
      location: { city: 'Lisbon', cityKey: 'lisbon', country: 'PT', lat: 38.72, lng: -9.14, geocells: ['eycs0'] },
      views: 3,
      viewBatchId: 'batch-1',
      ...changes,
    });
    await profiles.insertOne(document);
    return String(document._id);
  };

  /** What a member and an admin do with a profile, short of deleting it. */
  const useProfile = async (member: Account, id: string) => {
    expect((await call('GET', `/v1/profiles/${id}`)).status).toBe(200);
    expect((await call('GET', `/v1/profiles/${id}`, member)).status).toBe(200);
    expect((await call('GET', `/v1/profiles/${id}`, admin)).status).toBe(200);
    expect((await call('GET', '/v1/profiles/me', member)).body.id).toBe(id);
    expect((await call('PATCH', `/v1/profiles/${id}`, member, { bio: 'Changed' })).status).toBe(200);
    expect((await call('PATCH', `/v1/profiles/${id}`, member, { visibility: 'hidden' })).status).toBe(200);
    expect((await call('PATCH', `/v1/profiles/${id}`, member, { visibility: 'public' })).status).toBe(200);
    expect((await call('PATCH', `/v1/profiles/${id}`, admin, { displayName: 'Moderated' })).status).toBe(200);
    const unmodifiedSince = { 'if-unmodified-since': new Date(Date.now() + 60_000).toUTCString() };
    expect((await call('PATCH', `/v1/profiles/${id}`, member, { interests: ['go'] }, unmodifiedSince)).status).toBe(
      200,
    );
  };

  const listEverything = async () => {
    // The city counts are cached for minutes: read them anew, with the profiles inserted here.
    await running.app.get(TieredCache).invalidate('cities', ['all']);
    for (const path of [
      '/v1/profiles?city=Lisbon',
      '/v1/profiles?city=Lisbon&minAge=18&maxAge=90&fields=age,photoIds,location',
      '/v1/profiles/popular',
      '/v1/profiles/nearby?lat=38.72&lng=-9.14&radiusKm=10',
      '/v1/locations/cities',
    ]) {
      expect((await call('GET', path)).status, path).toBe(200);
    }
  };

  it('serves, changes, lists and deletes profiles in the shapes earlier versions and hand edits left', async () => {
    const shapes: Record<string, (member: Account) => Promise<Record<string, unknown>>> = {
      'first version': () => Promise.resolve({}),
      // Until 2026-11-24 photo ids were stored as the client sent them.
      'photo ids in upper case': async (member) => ({ photoIds: [(await upload(member)).toUpperCase()] }),
      'no arrays, bio or views': () =>
        Promise.resolve({ interests: undefined, interestedIn: undefined, bio: undefined, views: undefined }),
      'birth date as a string': () => Promise.resolve({ birthDate: '1990-05-01' }),
      'no timestamps': () => Promise.resolve({ createdAt: undefined, updatedAt: undefined, lastActiveAt: undefined }),
      'no city key': () => Promise.resolve({ location: { city: 'Lisbon', country: 'PT', lat: 38.72, lng: -9.14 } }),
    };
    const stored: { member: Account; id: string }[] = [];
    for (const changes of Object.values(shapes)) {
      const member = await registerAccount(url);
      stored.push({ member, id: await insertProfile(member, await changes(member)) });
    }
    for (const { member, id } of stored) await useProfile(member, id);
    await listEverything();
    for (const { member, id } of stored) {
      expect((await call('DELETE', `/v1/profiles/${id}`, member)).status).toBe(204);
    }
  });

  it('lists a first-version profile among the viewers of a premium member', async () => {
    const premium = await registerAccount(url);
    const watched = await insertProfile(premium);
    const subscribed = await call(
      'POST',
      '/v1/subscriptions',
      premium,
      { plan: 'premium', paymentToken: 'tok_visa' },
      { 'idempotency-key': randomUUID() },
    );
    expect(subscribed.status).toBe(201);
    const viewer = await registerAccount(url);
    await insertProfile(viewer, { publicSince: undefined, photoIds: undefined });
    await call('GET', `/v1/profiles/${watched}`, viewer);
    await expect
      .poll(async () => ((await call('GET', '/v1/profiles/me/viewers', premium)).body as unknown as unknown[]).length)
      .toBe(1);
    expect((await call('GET', '/v1/profiles/advanced?city=Lisbon', premium)).status).toBe(200);
  });

  it('takes a subscription as the first version stored it through every change and a renewal', async () => {
    // 2026-11-23: no chargeIds, recentPaymentKeys, refundedChargeIds nor previousPlan.
    const member = await registerAccount(url);
    const now = Date.now();
    await subscriptions.insertOne({
      userId: new Types.ObjectId(member.userId),
      plan: 'premium',
      status: 'active',
      currentPeriodStart: new Date(now - 20 * DAY_MS),
      currentPeriodEnd: new Date(now + 10 * DAY_MS),
      cancelAtPeriodEnd: false,
      pendingPlan: null,
      lastChargeId: `ch_${randomUUID()}`,
      createdAt: new Date(now - 20 * DAY_MS),
      updatedAt: new Date(now - 20 * DAY_MS),
      __v: 0,
    });
    const key = () => ({ 'idempotency-key': randomUUID() });
    expect((await call('GET', '/v1/subscriptions/me', member)).body.plan).toBe('premium');
    expect((await call('GET', '/v1/profiles/advanced', member)).status).toBe(200);
    expect((await call('GET', '/v1/admin/subscriptions?limit=100', admin)).status).toBe(200);
    expect(
      (await call('POST', '/v1/subscriptions', member, { plan: 'premium', paymentToken: 'tok_visa' }, key())).status,
    ).toBe(409);
    expect((await call('POST', '/v1/subscriptions/me/cancel', member, undefined, key())).status).toBe(200);
    expect((await call('POST', '/v1/subscriptions/me/resume', member, undefined, key())).status).toBe(200);
    const event = JSON.stringify({
      id: `evt_${randomUUID()}`,
      type: 'invoice.paid',
      data: { userId: member.userId, chargeId: `ch_${randomUUID()}` },
    });
    const renewed = await fetch(`${url}/v1/subscriptions/webhooks/fake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'vesta-signature': sign(SECRET, event, Math.floor(now / 1000)) },
      body: event,
    });
    expect(renewed.status).toBe(200);
    const upgraded = await call(
      'POST',
      '/v1/subscriptions/me/plan',
      member,
      { plan: 'platinum', paymentToken: 'tok_visa' },
      key(),
    );
    // The renewal paid for the next period, which has not started: the upgrade waits for it (a 409 that says so).
    expect(upgraded.status).toBe(409);
  });

  it('takes an account stored before session versions through login, a password change and logout-all', async () => {
    const member = await registerAccount(url);
    await users.updateOne({ _id: new Types.ObjectId(member.userId) }, { $unset: { sessionVersion: '' } });
    const token = await login(url, member.email, member.password);
    const session = { ...member, auth: { authorization: `Bearer ${token}` } };
    const changed = await call('POST', '/v1/auth/password', session, {
      currentPassword: member.password,
      newPassword: 'another long password here',
    });
    expect(changed.status).toBe(200);
    const renewed = { ...member, auth: { authorization: `Bearer ${changed.body.accessToken as string}` } };
    expect((await call('POST', '/v1/auth/logout-all', renewed)).status).toBe(204);
  });

  it('deletes a profile stored without photoIds or with null ones (500 until now)', async () => {
    for (const photoIds of [undefined, null]) {
      const member = await registerAccount(url);
      const id = await insertProfile(member, { photoIds });
      expect((await call('GET', `/v1/profiles/${id}`, member)).status).toBe(200);
      expect((await call('DELETE', `/v1/profiles/${id}`, member)).status).toBe(204);
      expect((await call('GET', `/v1/profiles/${id}`, member)).status).toBe(404);
    }
    // An admin's delete, with a precondition, takes the same path.
    const member = await registerAccount(url);
    const id = await insertProfile(member, { photoIds: undefined });
    const unmodifiedSince = { 'if-unmodified-since': new Date(Date.now() + 60_000).toUTCString() };
    expect((await call('DELETE', `/v1/profiles/${id}`, admin, undefined, unmodifiedSince)).status).toBe(204);
  });

  it('changes and deletes a profile stored without a location; the lists still answer (500 until now)', async () => {
    const member = await registerAccount(url);
    const id = await insertProfile(member, { location: undefined });
    await listEverything();
    await useProfile(member, id);
    const moved = { city: 'Porto', country: 'PT', lat: 41.15, lng: -8.61 };
    const patched = await call('PATCH', `/v1/profiles/${id}`, member, { location: moved });
    expect(patched.body.location).toEqual(moved);
    expect((await call('DELETE', `/v1/profiles/${id}`, member)).status).toBe(204);

    const deletedAsStored = await insertProfile(await registerAccount(url), { location: undefined });
    expect((await call('DELETE', `/v1/profiles/${deletedAsStored}`, admin)).status).toBe(204);
  });
});
