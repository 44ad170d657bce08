import type { Types } from 'mongoose';
import type { CacheEvictOptions } from '../cache/cache.decorators.js';
import type { ProfileRecord, ProfileWrite } from './profiles.repository.js';

/**
 * What ProfilesService caches and when a write drops it. The specs are shared by the @Cacheable methods and the cache
 * warmer, so both use the same entries.
 *
 * Lists (search and nearby pages, popular) hold profile ids and are rendered from the `profile` cache, so a change to
 * what an item shows needs only that profile's entry dropped. A list goes only when a change can move a profile into,
 * out of or within it; new profiles simply appear when list entries expire.
 */
/**
 * A profile's snapshot by id. An id with no profile (deleted, or made up: any 24 hex digits are a valid id) is kept
 * 30 s: enough to spare the database a client that asks again and again, short enough that made-up ids cannot fill
 * Redis and L1 for an hour each.
 */
export const PROFILE_CACHE = { name: 'profile', key: (id: string) => id, ttlS: 300, absentTtlS: 30 };
export const POPULAR_CACHE = { name: 'popular-ids', key: () => 'top', ttlS: 60 };
export const CITIES_CACHE = { name: 'cities', key: () => 'all', ttlS: 300 };
/** Search and nearby pages: short, since they list other members who may hide or delete themselves. */
export const SEARCH_TTL_S = 30;
/**
 * Their grace period (WrapOptions.maxGraceS): enough to answer through a MongoDB failover (an election takes about
 * 10 s), not CACHE_GRACE_S's hour. Clients choose their filters, so each address can make hundreds of distinct pages,
 * and Redis kept every one for the whole grace period (about 3 MB an hour per address at the search rate limit).
 */
export const SEARCH_MAX_GRACE_S = 60;
/**
 * Search and nearby pages of ids. All carry LIST_TAG, which drops every one (a write that failed, a migration); each
 * also carries the tags of list-page-tags.ts, by which an update or a deletion drops only the pages it can have changed.
 */
export const LIST_CACHE = 'profile-list-ids';
export const LIST_TAG = 'profile-list-ids';

/** Popular ranks public profiles by views, which no update sets: only a change of visibility can move one in it. */
export const movedInPopular = ({ before, after }: ProfileWrite): boolean => before.visibility !== after.visibility;

/**
 * City counts may lag a new profile by their TTL (each reload is an aggregation over all profiles), but a member who
 * hides, moves or deletes themselves should leave the list at once: a small town with one member names them. A new
 * spelling of the city may be the name the list shows.
 */
export const leftCity = ({ before, after }: ProfileWrite): boolean =>
  before.visibility !== after.visibility ||
  (['city', 'cityKey', 'country'] as const).some((field) => before.location?.[field] !== after.location?.[field]);

/** A deleted profile was in popular and the city counts only if it was public. */
export const wasPublic = (deleted: ProfileRecord): boolean => deleted.visibility === 'public';

export const PROFILE_EVICTION = { name: PROFILE_CACHE.name, keys: (id: Types.ObjectId) => [id.toHexString()] };
export const LIST_EVICTION: CacheEvictOptions = { name: LIST_CACHE, tags: [LIST_TAG] };
export const POPULAR_EVICTION: CacheEvictOptions = { name: POPULAR_CACHE.name, keys: () => [POPULAR_CACHE.key()] };
export const CITIES_EVICTION: CacheEvictOptions = { name: CITIES_CACHE.name, keys: () => [CITIES_CACHE.key()] };

/**
 * Versions before ids lists cached rendered pages under these names and drop them on every change to a profile.
 * While a rolling deploy runs both versions, this one must drop them as well, or an older instance would go on
 * serving, say, a profile hidden through a newer one. Delete once no older version runs.
 */
export const RENDERED_LIST_EVICTIONS: readonly CacheEvictOptions[] = [
  { name: 'profile-lists', tags: ['profile-lists'] },
  { name: 'popular', keys: () => ['top'] },
];
