import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { inMunich, storedProfile, writeOf } from './profile-records.fixture-spec.js';
import { listTagsLeftBy, listTagsMovedBy, nearbyPageTags, searchPageTags } from './list-page-tags.js';
import type { NearbyArea, SearchFilters } from './list-queries.js';
import { LIST_TAG } from './profile-caches.js';
import type { ProfileRecord, ProfileWrite } from './profiles.repository.js';

const search = (filters: Partial<SearchFilters> = {}) => searchPageTags({ limit: 20, ...filters });
const nearby = (area: Partial<NearbyArea> = {}) =>
  nearbyPageTags({ lat: 52.52, lng: 13.405, radiusKm: 10, limit: 20, ...area });
const berlin = storedProfile.location;
const inHamburg = {
  ...berlin,
  city: 'Hamburg',
  cityKey: 'hamburg',
  lat: 53.551,
  lng: 9.993,
  cellRow: 5355,
  cellCol: 999,
};

/** Whether the write drops a page with these tags. */
const drops = (write: ProfileWrite, pageTags: string[]) => listTagsMovedBy(write).some((tag) => pageTags.includes(tag));

/** The pages of the example: searches in Berlin, in Hamburg and anywhere; nearby in Berlin, Munich and Hamburg. */
const pages = {
  searchBerlin: search({ cityKey: 'berlin', gender: 'woman' }),
  searchHamburg: search({ cityKey: 'hamburg' }),
  searchAnywhere: search({ gender: 'woman', minAge: 25 }),
  nearbyBerlin: nearby(),
  nearbyMunich: nearby({ lat: 48.14, lng: 11.58 }),
  nearbyHamburg: nearby({ lat: 53.55, lng: 10 }),
};
const droppedBy = (write: ProfileWrite) =>
  Object.entries(pages)
    .filter(([, tags]) => drops(write, tags))
    .map(([name]) => name);

describe('list page tags', () => {
  it('tags every page with LIST_TAG, a search page with its city or as a search anywhere, a nearby page with its tiles', () => {
    expect(Object.values(pages).every((tags) => tags[0] === LIST_TAG)).toBe(true);
    expect(pages.searchBerlin).toEqual([LIST_TAG, 'profile-search:city:berlin']);
    expect(pages.searchAnywhere).toEqual([LIST_TAG, 'profile-search:anywhere']);
    // A city key with spaces or non-ASCII letters is hashed, as cache keys are.
    expect(search({ cityKey: 'são paulo' })[1]).toMatch(/^profile-search:city:[\w-]{43}$/);
    expect(pages.nearbyBerlin).toEqual([LIST_TAG, 'profile-nearby:tile:52:13']);
    // Across a tile's edge, and the most a wide radius covers before it counts as wide.
    expect(nearby({ lat: 52.001, lng: 13.999 }).slice(1).sort()).toEqual(
      ['52:13', '52:14', '51:13', '51:14'].map((tile) => `profile-nearby:tile:${tile}`).sort(),
    );
    expect(nearby({ lat: 10.5, lng: 179.99 }).slice(1).sort()).toEqual(
      ['10:-180', '10:179'].map((tile) => `profile-nearby:tile:${tile}`),
    );
    expect(nearby({ radiusKm: 100 })).toHaveLength(1 + 12);
    expect(nearby({ lat: 80, radiusKm: 100 })).toEqual([LIST_TAG, 'profile-nearby:wide']);
    expect(nearby({ lat: 89.9, radiusKm: 5 })).toEqual([LIST_TAG, 'profile-nearby:wide']);
  });

  it('drops nothing for an update that changes nothing a list selects on', () => {
    // The form sent back as stored but for what only an item shows, with the bookkeeping every update does.
    const resent = writeOf({
      displayName: 'Annika',
      bio: 'Now sailing too.',
      interestedIn: ['man', 'woman'],
      photoIds: [new Types.ObjectId().toHexString()],
      interests: ['sailing', 'chess', 'chess'],
      lastActiveAt: new Date(),
      updatedAt: new Date(),
      publicSince: new Date(),
      views: 4,
    });
    expect(droppedBy(resent)).toEqual([]);
    // A step within the cell, and the city spelled another way: nearby places members at the cell's centre.
    expect(droppedBy(writeOf({ location: { ...berlin, city: 'BERLIN', lat: 52.5209, lng: 13.4051 } }))).toEqual([]);
  });

  it('drops the search pages of the profile city and those naming none for what only a search selects on', () => {
    for (const changes of [{ gender: 'man' }, { interests: ['chess'] }, { birthDate: new Date('1995-04-02') }])
      expect(droppedBy(writeOf(changes))).toEqual(['searchBerlin', 'searchAnywhere']);
    // Another country under the same city name and in the same cell: a search naming the country no longer finds it.
    expect(droppedBy(writeOf({ location: { ...berlin, country: 'US' } }))).toEqual(['searchBerlin', 'searchAnywhere']);
  });

  it('drops the nearby pages of the tiles left and entered for a move to another cell', () => {
    expect(droppedBy(writeOf({ location: inMunich }))).toEqual(['nearbyBerlin', 'nearbyMunich']);
    const toHamburg = writeOf({ location: inHamburg });
    expect(droppedBy(toHamburg)).toEqual([
      'searchBerlin',
      'searchHamburg',
      'searchAnywhere',
      'nearbyBerlin',
      'nearbyHamburg',
    ]);
    // Pages too wide to be tagged by tile go on every move.
    expect(drops(writeOf({ location: inMunich }), nearby({ lat: 80, radiusKm: 100 }))).toBe(true);
    expect(drops(writeOf({ gender: 'man' }), nearby({ lat: 80, radiusKm: 100 }))).toBe(false);
  });

  it('drops every page the profile was or is in when it hides or shows itself, none while it stays hidden', () => {
    const all = ['searchBerlin', 'searchAnywhere', 'nearbyBerlin'];
    expect(droppedBy(writeOf({ visibility: 'hidden' }))).toEqual(all);
    const hidden: ProfileRecord = { ...storedProfile, visibility: 'hidden' };
    expect(droppedBy(writeOf({ visibility: 'public' }, hidden))).toEqual(all);
    expect(droppedBy(writeOf({ gender: 'man', location: inHamburg }, hidden))).toEqual([]);
  });

  it('drops for a deletion every page a public profile can have been in, and none for a hidden one', () => {
    const dropped = listTagsLeftBy(storedProfile);
    expect(
      Object.keys(pages).filter((name) => pages[name as keyof typeof pages].some((t) => dropped.includes(t))),
    ).toEqual(['searchBerlin', 'searchAnywhere', 'nearbyBerlin']);
    expect(listTagsLeftBy({ ...storedProfile, visibility: 'hidden' })).toEqual([]);
  });

  it('drops search and nearby pages for a field no one has classified yet', () => {
    expect(droppedBy(writeOf({ somethingNew: 1 }))).toEqual(['searchBerlin', 'searchAnywhere', 'nearbyBerlin']);
  });

  it('drops the nearby pages of the new place for a profile stored before nearby went by cell', () => {
    const { cellRow: _row, cellCol: _col, ...withoutCell } = berlin;
    const older = { ...storedProfile, location: withoutCell } as ProfileRecord;
    expect(droppedBy(writeOf({ location: inMunich }, older))).toEqual(['nearbyMunich']);
  });
});
