import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import type { ProfileRecord } from './profiles.repository.js';
import { readStoredProfile } from './stored-profile.js';

const stored = (fields: Record<string, unknown>) =>
  ({ _id: new Types.ObjectId(), visibility: 'public', ...fields }) as unknown as ProfileRecord;

describe('readStoredProfile', () => {
  it('reads a birth date stored as a parseable string or number as that date', () => {
    for (const birthDate of ['1990-05-01', Date.UTC(1990, 4, 1)]) {
      expect(readStoredProfile(stored({ birthDate })).birthDate).toEqual(new Date('1990-05-01T00:00:00Z'));
    }
  });

  it('reads a birth date that is no date as unknown', () => {
    for (const birthDate of ['not a date', '', { year: 1990 }, true, new Date(Number.NaN)]) {
      expect(readStoredProfile(stored({ birthDate }))).not.toHaveProperty('birthDate');
    }
  });

  it('reads a visibility it does not know, null included, as hidden', () => {
    expect(readStoredProfile(stored({ visibility: 'friends-only' })).visibility).toBe('hidden');
    expect(readStoredProfile(stored({ visibility: null })).visibility).toBe('hidden');
    expect(readStoredProfile(stored({ visibility: 'public' })).visibility).toBe('public');
  });

  it('passes null through', () => {
    expect(readStoredProfile(null)).toBeNull();
  });
});
