import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { leftCity, movedInPopular, movedInSearch } from './profile-caches.js';
import type { ProfileRecord } from './profiles.repository.js';

const stored: ProfileRecord = {
  _id: new Types.ObjectId(),
  userId: new Types.ObjectId(),
  displayName: 'Ann',
  bio: '',
  birthDate: new Date('1995-04-01'),
  gender: 'woman',
  interestedIn: ['man'],
  interests: ['chess', 'sailing'],
  location: {
    city: 'Berlin',
    cityKey: 'berlin',
    country: 'DE',
    lat: 52.52,
    lng: 13.405,
    cellRow: 14252,
    cellCol: 19340,
  },
  photoIds: [],
  visibility: 'public',
  views: 3,
  lastActiveAt: new Date('2026-12-01'),
  createdAt: new Date('2026-11-01'),
  updatedAt: new Date('2026-12-01'),
};

/** The write that turned `stored` into `stored` with `changes`, as read back (a copy: nothing shared with before). */
const writeOf = (changes: Record<string, unknown>) => ({
  before: structuredClone(stored),
  after: { ...structuredClone(stored), ...changes } as ProfileRecord,
});
const moved = { ...stored.location, lat: 48.137, lng: 11.575, cellRow: 13813, cellCol: 19157 };

describe('which profile updates drop cached lists', () => {
  it.each([
    ['gender', { gender: 'man' }],
    ['interests', { interests: ['chess'] }],
    ['birthDate', { birthDate: new Date('1995-04-02') }],
    ['the cell', { location: moved }],
    ['the city', { location: { ...stored.location, city: 'Hamburg', cityKey: 'hamburg' } }],
    ['visibility', { visibility: 'hidden' }],
    ['a field no one has classified yet', { somethingNew: 1 }],
  ])('a change of %s can move the profile in search and nearby pages', (_field, changes) => {
    expect(movedInSearch(writeOf(changes))).toBe(true);
  });

  it('leaves search and nearby pages when nothing they select on changed', () => {
    // A form sent back as it was, except for what only an item shows, and the bookkeeping every update does.
    const unchanged = writeOf({
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
    expect(movedInSearch(unchanged)).toBe(false);
    // A step within the cell, and the city spelled another way: nearby places members at the cell's centre.
    const location = { ...stored.location, city: 'BERLIN', lat: 52.5209, lng: 13.4051 };
    expect(movedInSearch(writeOf({ location }))).toBe(false);
  });

  it('leaves them for any change of a profile that was hidden and stays hidden', () => {
    const hidden = (changes: Record<string, unknown>) => {
      const write = writeOf({ ...changes, visibility: 'hidden' });
      return { ...write, before: { ...write.before, visibility: 'hidden' as const } };
    };
    expect(movedInSearch(hidden({ gender: 'man', location: moved }))).toBe(false);
    expect(movedInSearch(hidden({}))).toBe(false);
    expect(movedInSearch({ ...hidden({}), after: { ...stored } })).toBe(true);
  });

  it('drops nothing for a write that found no profile', () => {
    expect([movedInSearch(null), movedInPopular(null), leftCity(null)]).toEqual([false, false, false]);
  });

  it('only a change of visibility can move a profile in popular, which ranks by views', () => {
    expect(movedInPopular(writeOf({ visibility: 'hidden' }))).toBe(true);
    expect(movedInPopular(writeOf({ gender: 'man', location: moved, birthDate: new Date(0) }))).toBe(false);
  });

  it('drops the city counts when the member leaves a city or changes how its name is spelled', () => {
    expect(leftCity(writeOf({ visibility: 'hidden' }))).toBe(true);
    expect(leftCity(writeOf({ location: { ...stored.location, city: 'Hamburg', cityKey: 'hamburg' } }))).toBe(true);
    expect(leftCity(writeOf({ location: { ...stored.location, country: 'US' } }))).toBe(true);
    expect(leftCity(writeOf({ location: { ...stored.location, city: 'BERLIN' } }))).toBe(true);
    expect(leftCity(writeOf({ location: moved, gender: 'man' }))).toBe(false);
  });
});
