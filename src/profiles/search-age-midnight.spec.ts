import { Types } from 'mongoose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { attachCache } from '../cache/cache.decorators.js';
import type { TieredCache } from '../cache/tiered-cache.js';
import type { MediaService } from '../media/media.service.js';
import { SEARCH_TTL_S } from './profile-caches.js';
import type { ProfileRecord, ProfileSearch, ProfilesRepository } from './profiles.repository.js';
import { ProfilesService } from './profiles.service.js';
import type { ProfileViewsService } from './views/profile-views.service.js';

/** Entries answer for their TTL, as TieredCache's do (no jitter, no grace). */
function ttlCache() {
  const entries = new Map<string, { value: unknown; exp: number }>();
  return {
    wrap: async (name: string, key: string, load: () => Promise<unknown>, options: { ttlS: number }) => {
      const found = entries.get(`${name}:${key}`);
      if (found && found.exp > Date.now()) return found.value;
      const value = await load();
      entries.set(`${name}:${key}`, { value, exp: Date.now() + options.ttlS * 1000 });
      return value;
    },
  };
}

const born = new Date('1996-03-11T00:00:00.000Z');
const profile = {
  _id: new Types.ObjectId(),
  userId: new Types.ObjectId(),
  displayName: 'Ann',
  birthDate: born,
  visibility: 'public',
  location: { city: 'Lyon', country: 'FR', cityKey: 'lyon', lat: 45.76, lng: 4.84 },
} as unknown as ProfileRecord;

describe('a search with an age filter cached across UTC midnight', () => {
  afterEach(() => vi.useRealTimers());

  it('does not list, after midnight, a member who has just turned older than maxAge', async () => {
    const repository = {
      searchIds: (query: ProfileSearch) =>
        Promise.resolve(born >= query.bornAfter! && born <= (query.bornBefore ?? born) ? [profile._id] : []),
      findById: () => Promise.resolve(profile),
    };
    const service = new ProfilesService(
      repository as unknown as ProfilesRepository,
      {} as ProfileViewsService,
      {} as MediaService,
      {} as TieredCache,
    );
    attachCache(service, ttlCache() as unknown as TieredCache);

    vi.useFakeTimers({ now: new Date('2027-03-10T23:59:50.000Z') });
    const before = await service.search({ maxAge: 30 });
    expect(before.items.map((item) => item.age)).toEqual([30]);

    // 15 s later, within the page's SEARCH_TTL_S: Ann is 31 now.
    vi.setSystemTime(new Date('2027-03-11T00:00:05.000Z'));
    expect(15).toBeLessThan(SEARCH_TTL_S);
    const after = await service.search({ maxAge: 30 });
    expect(after.items.map((item) => item.age)).toEqual([]);
  });
});
