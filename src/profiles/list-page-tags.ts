import { isDeepStrictEqual } from 'node:util';
import { cacheKey } from '../cache/cache.decorators.js';
import { cellBox, tileOf, tilesOf, type GridCell } from './geo.js';
import type { NearbyArea, SearchFilters } from './list-queries.js';
import { LIST_TAG } from './profile-caches.js';
import type { ProfileRecord, ProfileWrite } from './profiles.repository.js';

/*
 * Which cached search and nearby pages a profile update or deletion drops (decision 0037). One tag on every page
 * dropped them all, platform-wide, whenever any member changed anything a search selects on; with many members that
 * kept the pages' hit ratio low. Now a search page naming a city is tagged with that city, and a nearby page with the
 * 1° tiles its radius covers; a write drops the tags of the places the profile was and is in, and the pages no place
 * narrows.
 */

/** Search pages that name no city: a change anywhere can move a profile in them. */
const SEARCH_ANYWHERE_TAG = 'profile-search:anywhere';
/** Nearby pages over more tiles than this carry NEARBY_WIDE_TAG instead (100 km covers 4 to 15 tiles up to 65°). */
const NEARBY_MAX_TILES = 16;
const NEARBY_WIDE_TAG = 'profile-nearby:wide';

// The city key is the member's text, folded: bounded and made safe by cacheKey, like any cache key.
const cityTag = (cityKey: string) => `profile-search:city:${cacheKey(cityKey)}`;
const tileTag = ({ row, col }: GridCell) => `profile-nearby:tile:${row}:${col}`;

export const searchPageTags = (filters: SearchFilters): string[] => [
  LIST_TAG,
  filters.cityKey === undefined ? SEARCH_ANYWHERE_TAG : cityTag(filters.cityKey),
];

export function nearbyPageTags(area: NearbyArea): string[] {
  const tiles = tilesOf(cellBox(area, area.radiusKm), NEARBY_MAX_TILES);
  return [LIST_TAG, ...(tiles ? tiles.map(tileTag) : [NEARBY_WIDE_TAG])];
}

/**
 * Fields of a profile that no search or nearby query filters or sorts on. A list of what to ignore, so that a field
 * added later drops the pages until someone decides it need not. Views change through the view flush, not an update:
 * pages filtered on them lag by their TTL.
 */
const OUTSIDE_SEARCH: ReadonlySet<string> = new Set([
  'displayName',
  'bio',
  'interestedIn',
  'photoIds',
  'lastActiveAt',
  'publicSince',
  'updatedAt',
  'views',
  'viewBatchId',
  'viewBatchSeq',
]);
/** Nearby search selects on visibility and the cell alone. */
const OUTSIDE_NEARBY: ReadonlySet<string> = new Set([...OUTSIDE_SEARCH, 'gender', 'birthDate', 'interests']);

const fieldsBut = (profile: ProfileRecord, ignored: ReadonlySet<string>) =>
  Object.fromEntries(Object.entries(profile).filter(([field]) => !ignored.has(field)));

/**
 * What search pages see of a profile: of its location the city key (not its spelling) and the country; interests as a
 * set.
 */
const searchPlacement = (profile: ProfileRecord) => ({
  ...fieldsBut(profile, OUTSIDE_SEARCH),
  location: [profile.location?.cityKey, profile.location?.country],
  interests: [...new Set(profile.interests)].sort(),
});

/** What nearby pages see: the cell, whose centre they place members at, so a move within it moves no one. */
const nearbyPlacement = (profile: ProfileRecord) => ({
  ...fieldsBut(profile, OUTSIDE_NEARBY),
  location: cellOf(profile),
});

/**
 * Profiles stored before nearby went by cell have none until a worker adds it, and no nearby page holds them; nor does
 * one whose location was removed by hand (which no version wrote; its updates and deletion answered 500).
 */
const cellOf = ({ location }: ProfileRecord): GridCell | undefined =>
  location?.cellRow === undefined ? undefined : { row: location.cellRow, col: location.cellCol };

/**
 * The list tags an update has to drop. It compares the profile as the update found it with the profile read back
 * after it: a PATCH that sends what is stored (clients often send the whole form) drops nothing, a new gender drops
 * search pages but no nearby page, a move to another cell nearby pages of the tiles left and entered. Should another
 * write land in between, either both differ and this one drops the pages too, or that write, which made the
 * difference, drops them itself.
 */
export function listTagsMovedBy({ before, after }: ProfileWrite): string[] {
  // Lists hold public profiles only: a hidden one that stays hidden is in none.
  if (before.visibility !== 'public' && after.visibility !== 'public') return [];
  const tags = new Set<string>();
  if (!isDeepStrictEqual(searchPlacement(before), searchPlacement(after))) {
    for (const profile of [before, after]) if (profile.location) tags.add(cityTag(profile.location.cityKey));
    tags.add(SEARCH_ANYWHERE_TAG);
  }
  if (!isDeepStrictEqual(nearbyPlacement(before), nearbyPlacement(after))) {
    for (const cell of [cellOf(before), cellOf(after)]) if (cell) tags.add(tileTag(tileOf(cell)));
    tags.add(NEARBY_WIDE_TAG);
  }
  return [...tags];
}

/** The list tags a deletion drops: those of every page the profile can have been in, as if it hid itself. */
export const listTagsLeftBy = (deleted: ProfileRecord): string[] =>
  listTagsMovedBy({ before: deleted, after: { ...deleted, visibility: 'hidden' } });
