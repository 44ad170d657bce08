import type { Redis } from 'ioredis';
import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Collection, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { VIEW_KEYS, VIEWERS_KEPT, VIEWERS_TTL_MS } from '../../src/profiles/views/profile-views.constants.js';
import { ProfileViewsService } from '../../src/profiles/views/profile-views.service.js';
import { REDIS_CLIENT } from '../../src/redis/redis.constants.js';
import { login, registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { eventually } from '../support/cache-instance.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

describe('who viewed me', () => {
  const ADMIN = { email: `moderator-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };
  let running: RunningApp;
  let url: string;
  let redis: Redis;
  let profiles: Collection;

  beforeAll(async () => {
    running = await startApp(
      testConfig({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, VIEW_BUFFER_MS: '20' }),
    );
    url = running.url;
    redis = running.app.get<Redis>(REDIS_CLIENT);
    profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
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
    const response = await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth });
    expect(response.status).toBe(200);
    return ((await response.json()) as { profile: { displayName: string } }[]).map((v) => v.profile.displayName);
  };
  /**
   * The list once `witness`'s latest view has reached Redis (views are sent every VIEW_BUFFER_MS): views recorded
   * before it have been sent too, so what the list leaves out, it leaves out for good.
   */
  const viewerNamesAfter = async (member: Account, witness: string): Promise<string[]> => {
    await eventually(async () => (await viewerNames(member)).includes(witness), 5_000);
    return viewerNames(member);
  };

  it('never discloses browsing done while hidden or before having a profile, once the viewer goes public', async () => {
    const { member, profileId } = await premiumMember();
    const incognito = await registerAccount(url);
    const hidden = await createProfile(url, incognito, { displayName: 'Incognito', visibility: 'hidden' });
    const newcomer = await registerAccount(url);
    const witness = await registerAccount(url);
    await createProfile(url, witness, { displayName: 'Witness' });
    await view(incognito.auth, profileId);
    await view(newcomer.auth, profileId);
    await view(witness.auth, profileId);
    expect(await viewerNamesAfter(member, 'Witness')).toEqual(['Witness']);

    const unhide = await fetch(`${url}/v1/profiles/${hidden.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...incognito.auth },
      body: JSON.stringify({ visibility: 'public' }),
    });
    expect(unhide.status).toBe(200);
    await createProfile(url, newcomer, { displayName: 'Newcomer' });
    expect(await viewerNames(member)).toEqual(['Witness']);

    // Looking again, in public, is a visit like any other.
    await view(incognito.auth, profileId);
    expect(await viewerNamesAfter(member, 'Incognito')).toEqual(['Incognito', 'Witness']);
  });

  it('forgets who viewed a profile once it is deleted', async () => {
    const { member, profileId } = await premiumMember();
    const viewer = await registerAccount(url);
    await createProfile(url, viewer, { displayName: 'Viewer' });
    await view(viewer.auth, profileId);
    await viewerNamesAfter(member, 'Viewer');
    expect(await redis.exists(VIEW_KEYS.viewers(profileId))).toBe(1);

    const deleted = await fetch(`${url}/v1/profiles/${profileId}`, { method: 'DELETE', headers: member.auth });
    expect(deleted.status).toBe(204);
    expect(await redis.exists(VIEW_KEYS.viewers(profileId))).toBe(0);
    expect(await redis.hexists(VIEW_KEYS.pending, profileId)).toBe(0);
  });

  it('does not list an admin who read the profile', async () => {
    const { member, profileId } = await premiumMember();
    const moderator = { authorization: `Bearer ${await login(url, ADMIN.email, ADMIN.password)}` };
    await createProfile(url, { auth: moderator } as Account, { displayName: 'Moderator' });
    const visitor = await registerAccount(url);
    await createProfile(url, visitor, { displayName: 'Visitor' });
    await view(moderator, profileId);
    await view(visitor.auth, profileId);
    expect(await viewerNamesAfter(member, 'Visitor')).toEqual(['Visitor']);
  });

  it('lists no view older than 30 days, and forgets it, however often the profile is viewed since', async () => {
    const { member, profileId } = await premiumMember();
    const [old, recent] = [await registerAccount(url), await registerAccount(url)];
    await createProfile(url, old, { displayName: 'Old' });
    await createProfile(url, recent, { displayName: 'Recent' });
    // A member for months, who looked 31 days ago; the set has been renewed by views since.
    const monthsAgo = new Date(Date.now() - 90 * 24 * 3600 * 1000);
    await profiles.updateOne({ userId: new Types.ObjectId(old.userId) }, { $set: { createdAt: monthsAgo } });
    const key = VIEW_KEYS.viewers(profileId);
    await redis.zadd(key, Date.now() - VIEWERS_TTL_MS - 24 * 3600 * 1000, old.userId);
    expect(await viewerNames(member)).toEqual([]);

    await view(recent.auth, profileId);
    expect(await viewerNamesAfter(member, 'Recent')).toEqual(['Recent']);
    expect(await redis.zscore(key, old.userId)).toBeNull();
  });

  it('lists the viewers who qualify however many newer views come from accounts that do not', async () => {
    const { member, profileId } = await premiumMember();
    const visitor = await registerAccount(url);
    await createProfile(url, visitor, { displayName: 'Visitor' });
    await view(visitor.auth, profileId);
    expect(await viewerNamesAfter(member, 'Visitor')).toEqual(['Visitor']);
    // More newer views by accounts without a public profile than one read of the set takes (VIEWERS_KEPT): a popular
    // profile's hour keeps them all (inside the repeat window), and until 2026-12-08 only the newest 100 were read.
    const now = Date.now();
    const count = VIEWERS_KEPT + 50;
    const others = Array.from({ length: count }, (_, i) => [now + i, new Types.ObjectId().toHexString()]).flat();
    await redis.zadd(VIEW_KEYS.viewers(profileId), ...others);
    expect(await viewerNames(member)).toEqual(['Visitor']);
  });

  it('lists a viewer once when views reach Redis between the pages it reads', async () => {
    const { member, profileId } = await premiumMember();
    const visitor = await registerAccount(url);
    await createProfile(url, visitor, { displayName: 'Visitor' });
    await view(visitor.auth, profileId);
    expect(await viewerNamesAfter(member, 'Visitor')).toEqual(['Visitor']);
    // Newer views that leave the visitor last on the first page.
    const key = VIEW_KEYS.viewers(profileId);
    const now = Date.now();
    const others = Array.from({ length: VIEWERS_KEPT - 1 }, (_, i) => [now + i, new Types.ObjectId().toHexString()]);
    await redis.zadd(key, ...others.flat());
    // A flush between two page reads (a popular profile's views arrive every VIEW_BUFFER_MS) moves everyone down one.
    const views = running.app.get(ProfileViewsService);
    const read = views.recentViewers.bind(views);
    const spy = vi.spyOn(views, 'recentViewers').mockImplementation(async (id, offset) => {
      const page = await read(id, offset);
      if (offset === 0) await redis.zadd(key, Date.now() + VIEWERS_KEPT, new Types.ObjectId().toHexString());
      return page;
    });
    try {
      expect(await viewerNames(member)).toEqual(['Visitor']);
    } finally {
      spy.mockRestore();
    }
  });
});
