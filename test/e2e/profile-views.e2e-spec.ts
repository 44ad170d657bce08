import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfileViewsFlusher } from '../../src/profiles/views/profile-views.flusher.js';
import { ProfileViewsService } from '../../src/profiles/views/profile-views.service.js';
import { ProfilesRepository } from '../../src/profiles/profiles.repository.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';
import { REDIS_CLIENT } from '../../src/redis/redis.constants.js';
import { TieredCache } from '../../src/cache/tiered-cache.js';
import { Redis as IORedis, type Redis } from 'ioredis';
import { VIEW_KEYS } from '../../src/profiles/views/profile-views.constants.js';

describe('view counting', () => {
  let running: RunningApp;
  let url: string;
  let flusher: ProfileViewsFlusher;
  const config = testConfig();

  beforeAll(async () => {
    running = await startApp(config);
    url = running.url;
    flusher = running.app.get(ProfileViewsFlusher);
  });

  afterAll(async () => {
    await running.close();
  });

  const views = async (id: string): Promise<number> =>
    ((await (await fetch(`${url}/v1/profiles/${id}`)).json()) as { views: number }).views;
  const viewerAuth = async () => (await registerAccount(url, 'viewer')).auth;

  it('counts 1,000 concurrent views of one profile exactly once each', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    const statuses = await Promise.all(
      Array.from({ length: 1_000 }, () =>
        fetch(`${url}/v1/profiles/${profile.id}`).then((response) => response.status),
      ),
    );
    expect(statuses.every((status) => status === 200)).toBe(true);
    await flusher.flush();
    // Reading the count also counts a view, which the next flush picks up.
    expect(await views(profile.id)).toBe(1_000);
  });

  it("does not count the owner's own views", async () => {
    const owner = await registerAccount(url);
    const profile = await createProfile(url, owner);
    await fetch(`${url}/v1/profiles/${profile.id}`, { headers: owner.auth });
    await fetch(`${url}/v1/profiles/${profile.id}`, { headers: await viewerAuth() });
    await flusher.flush();
    expect(await views(profile.id)).toBe(1);
  });

  it("counts a signed-in member's views of a profile once an hour, across instances; anonymous views each", async () => {
    const profile = await createProfile(url, await registerAccount(url));
    const [first, second] = [await registerAccount(url), await registerAccount(url)];
    const read = (member?: Account) => fetch(`${url}/v1/profiles/${profile.id}`, { headers: member?.auth ?? {} });
    const service = running.app.get(ProfileViewsService);
    // One member refreshing, in one buffer and over several sends; another member once; two anonymous views.
    await Promise.all([read(first), read(first), read(first), read(second)]);
    await service.send();
    await read(first);
    await service.send();
    // A second instance, as another pod, sends its own views of the same member: they meet in Redis.
    const other = new ProfileViewsService(running.app.get<Redis>(REDIS_CLIENT), config);
    other.record(new Types.ObjectId(profile.id), first.userId);
    await other.send();
    await Promise.all([read(), read()]);
    await flusher.flush();
    expect(await views(profile.id)).toBe(2 + 2);

    // An hour after the first member's last look (moved back in Redis, where it is kept), a look counts again.
    const redis = running.app.get<Redis>(REDIS_CLIENT);
    const key = VIEW_KEYS.viewers(profile.id);
    await redis.zadd(key, Date.now() - 3_600_001, first.userId);
    await read(first);
    await service.send();
    await flusher.flush();
    expect(await views(profile.id)).toBe(2 + 2 + 1 + 1); // the anonymous read above counted one too
  });

  it('counts a repeat view once within the hour also on a profile more than 100 members viewed since', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    const id = new Types.ObjectId(profile.id);
    const service = new ProfileViewsService(running.app.get<Redis>(REDIS_CLIENT), config);
    service.record(id, 'first-viewer');
    await service.send();
    // 100 other members look at it in the next minutes: the set "who viewed me" lists is bounded at 100.
    for (let i = 0; i < 100; i++) service.record(id, `other-${i}`);
    await service.send();
    service.record(id, 'first-viewer');
    await service.send();
    await flusher.flush();
    expect(await views(profile.id)).toBe(101);
  });

  it("leaves the profile's updatedAt alone: counted views are no edit", async () => {
    const owner = await registerAccount(url);
    const profile = await createProfile(url, owner);
    const ownView = async () =>
      (await (await fetch(`${url}/v1/profiles/${profile.id}`, { headers: owner.auth })).json()) as {
        views: number;
        updatedAt: string;
      };
    const before = await ownView();
    await fetch(`${url}/v1/profiles/${profile.id}`, { headers: await viewerAuth() });
    await flusher.flush();
    const after = await ownView();
    expect(after.views).toBe(before.views + 1);
    expect(after.updatedAt).toBe(before.updatedAt);
  });

  it('does not count a HEAD request, which shows nobody the profile', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    const viewer = await viewerAuth();
    const head = await fetch(`${url}/v1/profiles/${profile.id}`, { method: 'HEAD', headers: viewer });
    expect(head.status).toBe(200);
    await fetch(`${url}/v1/profiles/${profile.id}`, { headers: viewer });
    await flusher.flush();
    expect(await views(profile.id)).toBe(1);
  });

  it('does not count a GET answered 412, which shows nobody the profile either', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    // JSON answers carry weak ETags, which If-Match never matches: a client that sends one gets 412 and no profile.
    const refused = await fetch(`${url}/v1/profiles/${profile.id}`, { headers: { 'if-match': '"a-version"' } });
    expect(refused.status).toBe(412);
    await fetch(`${url}/v1/profiles/${profile.id}`);
    await flusher.flush();
    expect(await views(profile.id)).toBe(1);
  });

  it('neither loses nor doubles counts when a flush dies after writing to MongoDB', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    for (let i = 0; i < 7; i += 1) await fetch(`${url}/v1/profiles/${profile.id}`);

    // A flusher whose process "dies" right after MongoDB took the batch, before Redis is cleaned up.
    const repository = running.app.get(ProfilesRepository);
    const crashing = new ProfileViewsFlusher(
      running.app.get<Redis>(REDIS_CLIENT),
      {
        applyViewBatch: async (...args: Parameters<ProfilesRepository['applyViewBatch']>) => {
          await repository.applyViewBatch(...args);
          throw new Error('simulated crash');
        },
      } as unknown as ProfilesRepository,
      running.app.get(TieredCache),
      running.app.get(ProfileViewsService),
    );
    await expect(crashing.flush()).rejects.toThrow('simulated crash');

    // Views arriving in the meantime go to a new batch.
    for (let i = 0; i < 3; i += 1) await fetch(`${url}/v1/profiles/${profile.id}`);

    await flusher.flush(); // resumes the crashed batch: must add nothing again
    await flusher.flush(); // the 3 new views
    expect(await views(profile.id)).toBe(10);
  });

  it('neither loses nor doubles counts when a flush dies before writing to MongoDB', async () => {
    const profile = await createProfile(url, await registerAccount(url));
    for (let i = 0; i < 4; i += 1) await fetch(`${url}/v1/profiles/${profile.id}`);
    const failing = new ProfileViewsFlusher(
      running.app.get<Redis>(REDIS_CLIENT),
      {
        applyViewBatch: () => Promise.reject(new Error('MongoDB unavailable')),
      } as unknown as ProfilesRepository,
      running.app.get(TieredCache),
      running.app.get(ProfileViewsService),
    );
    await expect(failing.flush()).rejects.toThrow('MongoDB unavailable');
    await flusher.flush();
    expect(await views(profile.id)).toBe(4);
  });

  /** A flusher on "another worker" whose writes wait for `gate`, then do `then`. */
  const gatedFlusher = (
    gate: Promise<void>,
    then: (...args: Parameters<ProfilesRepository['applyViewBatch']>) => Promise<void>,
  ) => {
    let entered!: () => void;
    const writing = new Promise<void>((resolve) => (entered = resolve));
    const gated = new ProfileViewsFlusher(
      running.app.get<Redis>(REDIS_CLIENT),
      {
        applyViewBatch: async (...args: Parameters<ProfilesRepository['applyViewBatch']>) => {
          entered();
          await gate;
          await then(...args);
        },
      } as unknown as ProfilesRepository,
      running.app.get(TieredCache),
      running.app.get(ProfileViewsService),
    );
    return { gated, writing };
  };

  /**
   * A profile with 5 views, whose batch a slow flush is about to write when it outlives its 60 s lock: another worker
   * resumes the batch and finishes it. `releaseSlow` lets the slow flush's write go on; `slowFlush` is its flush.
   */
  const flushOutlivingItsLock = async () => {
    const profile = await createProfile(url, await registerAccount(url));
    for (let i = 0; i < 5; i += 1) await fetch(`${url}/v1/profiles/${profile.id}`);
    let releaseSlow!: () => void;
    const slow = gatedFlusher(new Promise((resolve) => (releaseSlow = resolve)), (...args) =>
      running.app.get(ProfilesRepository).applyViewBatch(...args),
    );
    const slowFlush = slow.gated.flush();
    await slow.writing;
    await running.app.get<Redis>(REDIS_CLIENT).del(VIEW_KEYS.lock);
    await flusher.flush();
    expect(await views(profile.id)).toBe(5);
    return { profile, releaseSlow, slowFlush };
  };

  it("loses no views when a flush that outlived its lock ends while another flush's batch is in flight", async () => {
    const { profile, releaseSlow, slowFlush } = await flushOutlivingItsLock();

    // A third worker's flush takes the next views and is writing them when the slow flush ends, then dies.
    for (let i = 0; i < 3; i += 1) await fetch(`${url}/v1/profiles/${profile.id}`);
    let crash!: () => void;
    const dying = gatedFlusher(new Promise((resolve) => (crash = resolve)), () => Promise.reject(new Error('crashed')));
    const dyingFlush = dying.gated.flush();
    await dying.writing;
    releaseSlow();
    await slowFlush;
    crash();
    await expect(dyingFlush).rejects.toThrow('crashed');

    await flusher.flush(); // resumes the dead worker's batch
    expect(await views(profile.id)).toBe(5 + 1 + 3); // the read above counted one view too
  });

  it('adds nothing when a flush that outlived its lock writes its batch after the next batch was applied', async () => {
    const { profile, releaseSlow, slowFlush } = await flushOutlivingItsLock();
    // The worker that finished the batch flushes the next one.
    for (let i = 0; i < 3; i += 1) await fetch(`${url}/v1/profiles/${profile.id}`);
    await flusher.flush();
    expect(await views(profile.id)).toBe(5 + 1 + 3); // the read above counted one view too

    releaseSlow(); // its write of the first batch comes last
    await slowFlush;
    await flusher.flush();
    expect(await views(profile.id)).toBe(5 + 1 + 3 + 1);
  });

  it('finishes a batch left in flight by a version without batch numbers, skipping the profiles it wrote and no other', async () => {
    const [written, unwritten] = [
      await createProfile(url, await registerAccount(url)),
      await createProfile(url, await registerAccount(url)),
    ];
    const legacyId = randomUUID();
    const redis = running.app.get<Redis>(REDIS_CLIENT);
    await redis.hset(VIEW_KEYS.inflight, written.id, 4, unwritten.id, 2);
    await redis.set(VIEW_KEYS.inflightId, legacyId);
    // The old flusher had written this profile's share before it died.
    const profiles = running.app.get<Connection>(getConnectionToken()).collection('profiles');
    await profiles.updateOne(
      { _id: new Types.ObjectId(written.id) },
      { $inc: { views: 4 }, $set: { viewBatchId: legacyId } },
    );
    // The number of an earlier batch of this version, which the old one finished without deleting its number; the
    // other profile received that batch. Taken for this batch's, it would make that profile skip this one.
    const earlierSeq = Number(await redis.get(VIEW_KEYS.lastSeq)) + 1_000;
    await redis.set(VIEW_KEYS.inflightSeq, `${randomUUID()} ${earlierSeq}`);
    await redis.set(VIEW_KEYS.lastSeq, earlierSeq);
    await profiles.updateOne({ _id: new Types.ObjectId(unwritten.id) }, { $set: { viewBatchSeq: earlierSeq } });

    expect(await flusher.flush()).toMatchObject({ batchId: legacyId, profiles: 2, views: 6 });
    expect(await views(written.id)).toBe(4);
    expect(await views(unwritten.id)).toBe(2);
    expect(await redis.exists(VIEW_KEYS.inflight, VIEW_KEYS.inflightId, VIEW_KEYS.inflightSeq)).toBe(0);
  });

  it('ranks popular profiles by counted views', async () => {
    const [low, high] = [
      await createProfile(url, await registerAccount(url)),
      await createProfile(url, await registerAccount(url)),
    ];
    const bump = async (id: string, times: number) => {
      await Promise.all(Array.from({ length: times }, () => fetch(`${url}/v1/profiles/${id}`)));
    };
    // Far above what other tests in this file produce, so these two lead the ranking.
    await bump(high.id, 1_500);
    await bump(low.id, 1_200);
    await flusher.flush();
    const popular = (await (await fetch(`${url}/v1/profiles/popular`)).json()) as { id: string; views: number }[];
    expect(popular.slice(0, 2).map((p) => p.id)).toEqual([high.id, low.id]);
    expect(popular.length).toBeLessThanOrEqual(50);
    const counts = popular.map((p) => p.views);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });
});

describe('view buffering', () => {
  it('sends the views still buffered in memory when the app shuts down gracefully', async () => {
    const config = testConfig({ VIEW_BUFFER_MS: '60000' });
    const running = await startApp(config);
    const profile = await createProfile(running.url, await registerAccount(running.url));
    for (let i = 0; i < 5; i += 1) await fetch(`${running.url}/v1/profiles/${profile.id}`);
    const redis = new IORedis(config.redis.url, { keyPrefix: config.redis.keyPrefix });
    try {
      // A minute-long buffer: nothing has reached Redis yet.
      expect(await redis.hget(VIEW_KEYS.pending, profile.id)).toBeNull();
      await running.close();
      expect(await redis.hget(VIEW_KEYS.pending, profile.id)).toBe('5');
    } finally {
      await redis.quit();
    }
  });

  it('sends the views of requests that end while the server closes, after the last scheduled send', async () => {
    const config = testConfig({ VIEW_BUFFER_MS: '60000' });
    const running = await startApp(config);
    const views = running.app.get(ProfileViewsService);
    const profileId = new Types.ObjectId();
    // A request that ends during the close records its view after the send before the server closed.
    const sendBeforeClose = views.beforeApplicationShutdown.bind(views);
    views.beforeApplicationShutdown = async () => {
      await sendBeforeClose();
      views.record(profileId);
    };
    const redis = new IORedis(config.redis.url, { keyPrefix: config.redis.keyPrefix });
    try {
      await running.close();
      expect(await redis.hget(VIEW_KEYS.pending, profileId.toHexString())).toBe('1');
    } finally {
      await redis.quit();
    }
  });
});

describe('scheduled flush (ROLE=all)', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp(testConfig({ ROLE: 'all', VIEW_FLUSH_INTERVAL_MS: '300' }));
  });

  afterAll(async () => {
    await running.close();
  });

  it('moves views to MongoDB without anyone calling flush', async () => {
    const profile = await createProfile(running.url, await registerAccount(running.url));
    await Promise.all(Array.from({ length: 25 }, () => fetch(`${running.url}/v1/profiles/${profile.id}`)));
    const deadline = Date.now() + 15_000;
    let counted = 0;
    while (Date.now() < deadline && counted < 25) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const response = await fetch(`${running.url}/v1/profiles/${profile.id}`, {
        headers: (await registerAccount(running.url)).auth,
      });
      counted = ((await response.json()) as { views: number }).views;
    }
    expect(counted).toBeGreaterThanOrEqual(25);
  });
});
