import { describe, expect, it } from 'vitest';
import type { UpdateProfileDto } from './dto/update-profile.dto.js';
import { movesInPopular, movesInSearch } from './profile-caches.js';

const update = (dto: Record<string, unknown>) => [undefined, undefined, dto as UpdateProfileDto] as const;

describe('which profile updates drop cached lists', () => {
  it.each(['gender', 'interests', 'birthDate', 'location', 'visibility'])(
    'a change of %s can move the profile in search and nearby pages',
    (field) => expect(movesInSearch(...update({ bio: 'x', [field]: 'changed' }))).toBe(true),
  );

  it('changes of what an item only shows leave search and nearby pages', () => {
    expect(movesInSearch(...update({ displayName: 'Ann', bio: 'x', interestedIn: ['man'], photoIds: [] }))).toBe(false);
  });

  it('a field no one has classified yet drops the pages', () => {
    expect(movesInSearch(...update({ somethingNew: 1 }))).toBe(true);
  });

  it('only a visibility change can move a profile in popular, which ranks by views', () => {
    expect(movesInPopular(...update({ visibility: 'hidden' }))).toBe(true);
    expect(movesInPopular(...update({ gender: 'man', location: {}, birthDate: '1990-01-01', bio: 'x' }))).toBe(false);
  });
});
