import type { Redis } from 'ioredis';
import { Types } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIEW_KEYS, VIEWERS_TTL_MS } from '../../src/profiles/views/profile-views.constants.js';
import { REDIS_CLIENT } from '../../src/redis/redis.constants.js';
import { login, registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/** Views reach Redis every VIEW_BUFFER_MS (20 ms in tests). */
const VIEWS_SENT_MS = 150;

describe('who viewed me', () => {
  const ADMIN = { email: `moderator-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };
  let running: RunningApp;
  let url: string;
  let redis: Redis;

  beforeAll(async () => {
    running = await startApp(
      testConfig({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, VIEW_BUFFER_MS: '20' }),
    );
    url = running.url;
    redis = running.app.get<Redis>(REDIS_CLIENT);
  });

  afterAll(async () => {
    await running.close();
  });

  /** A premium member with a public profile, and that profile's id. */
  const premiumMember = async (): Promise<{ member: Account; profileId: string }> => {
    const member = await registerAccount(url);
    const { id } = await createProfile(url, member, { displayName: 'Watched' });
    const subscribed = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
    });
    expect(subscribed.status).toBe(201);
    return { member, profileId: id };
  };
  const view = async (viewer: { authorization: string }, profileId: string) =>
    expect((await fetch(`${url}/v1/profiles/${profileId}`, { headers: viewer })).status).toBe(200);
  const viewerNames = async (member: Account): Promise<string[]> => {
    await sleep(VIEWS_SENT_MS);
    const response = await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth });
    expect(response.status).toBe(200);
    return ((await response.json()) as { profile: { displayName: string } }[]).map((v) => v.profile.displayName);
  };

  it('never discloses browsing done while hidden or before having a profile, once the viewer goes public', async () => {
    const { member, profileId } = await premiumMember();
    const incognito = await registerAccount(url);
    const hidden = await createProfile(url, incognito, { displayName: 'Incognito', visibility: 'hidden' });
    const newcomer = await registerAccount(url);
    await view(incognito.auth, profileId);
    await view(newcomer.auth, profileId);
    expect(await viewerNames(member)).toEqual([]);

    const unhide = await fetch(`${url}/v1/profiles/${hidden.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...incognito.auth },
      body: JSON.stringify({ visibility: 'public' }),
    });
    expect(unhide.status).toBe(200);
    await createProfile(url, newcomer, { displayName: 'Newcomer' });
    expect(await viewerNames(member)).toEqual([]);

    // Looking again, in public, is a visit like any other.
    await view(incognito.auth, profileId);
    expect(await viewerNames(member)).toEqual(['Incognito']);
  });

  it('does not list an admin who read the profile', async () => {
    const { member, profileId } = await premiumMember();
    const moderator = { authorization: `Bearer ${await login(url, ADMIN.email, ADMIN.password)}` };
    await createProfile(url, { auth: moderator } as Account, { displayName: 'Moderator' });
    const visitor = await registerAccount(url);
    await createProfile(url, visitor, { displayName: 'Visitor' });
    await view(moderator, profileId);
    await view(visitor.auth, profileId);
    expect(await viewerNames(member)).toEqual(['Visitor']);
  });

  it('lists no view older than 30 days, and forgets it, however often the profile is viewed since', async () => {
    const { member, profileId } = await premiumMember();
    const [old, recent] = [await registerAccount(url), await registerAccount(url)];
    await createProfile(url, old, { displayName: 'Old' });
    await createProfile(url, recent, { displayName: 'Recent' });
    const key = VIEW_KEYS.viewers(profileId);
    // A visit 31 days ago, kept in a set that views since have renewed.
    await redis.zadd(key, Date.now() - VIEWERS_TTL_MS - 24 * 3600 * 1000, old.userId);
    expect(await viewerNames(member)).toEqual([]);

    await view(recent.auth, profileId);
    expect(await viewerNames(member)).toEqual(['Recent']);
    expect(await redis.zscore(key, old.userId)).toBeNull();
  });

  it('lists the viewers who qualify however many newer views come from accounts that do not', async () => {
    const { member, profileId } = await premiumMember();
    const visitor = await registerAccount(url);
    await createProfile(url, visitor, { displayName: 'Visitor' });
    await view(visitor.auth, profileId);
    await sleep(VIEWS_SENT_MS);
    // Sixty newer views by accounts without a public profile.
    const now = Date.now();
    const others = Array.from({ length: 60 }, (_, i) => [now + i, new Types.ObjectId().toHexString()]).flat();
    await redis.zadd(VIEW_KEYS.viewers(profileId), ...others);
    expect(await viewerNames(member)).toEqual(['Visitor']);
  });
});
