import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Types } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profileCacheEntry } from '../../bench/l1-hit-ratio.js';
import { toProfileView } from '../../src/profiles/profile.mapper.js';
import { PROFILE_CACHE } from '../../src/profiles/profile-caches.js';
import type { ProfileRecord } from '../../src/profiles/profiles.repository.js';
import { demoProfile, random } from '../../src/seed/demo-data.js';
import { Instance } from '../support/cache-instance.js';
import { requiredEnv } from '../support/test-env.js';

describe('npm run bench: the L1 hit ratio simulation', () => {
  const namespace = `bench-l1-${randomUUID().slice(0, 8)}:`;
  let instance: Instance;

  beforeAll(async () => {
    instance = await Instance.create(requiredEnv('REDIS_URL'), namespace);
  });

  afterAll(async () => {
    await instance?.close();
    const admin = new Redis(requiredEnv('REDIS_URL'));
    const keys = await admin.keys(`${namespace}*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
  });

  // The simulation's 50 MB holds as many profiles as its entries are small: counted smaller than the cache counts
  // them, more fit, and the hit ratio it checks against 0.95 is higher than the API's L1 of that size reaches.
  it('fills its L1 with entries of the size the profile cache counts for the same profiles', async () => {
    const rand = random(7);
    const now = new Date();
    for (let i = 0; i < 5; i += 1) {
      const doc: ProfileRecord = {
        _id: new Types.ObjectId(),
        ...demoProfile(i, new Types.ObjectId(), rand),
        createdAt: now,
        updatedAt: now,
      };
      const before = await instance.metric('cache_l1_bytes', {});
      // As ProfilesService.snapshot loads it: one read of the database, a few milliseconds.
      await instance.cache.wrap(
        PROFILE_CACHE.name,
        PROFILE_CACHE.key(String(doc._id)),
        async () => {
          await sleep(3);
          return {
            view: toProfileView(doc, { privileged: true }),
            ownerId: String(doc.userId),
            visibility: doc.visibility,
          };
        },
        { ttlS: PROFILE_CACHE.ttlS },
      );
      const counted = (await instance.metric('cache_l1_bytes', {})) - before;
      // To a few bytes: the load's duration is stored with as many digits as it happens to have (most often 15 to 17).
      expect(
        Math.abs(profileCacheEntry(doc).length - counted),
        `profile ${i}: the cache counted ${counted}`,
      ).toBeLessThanOrEqual(8);
    }
  });
});
