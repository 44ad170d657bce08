import { Logger } from '@nestjs/common';
import { Types } from 'mongoose';
import { describe, expect, it, vi } from 'vitest';
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

  it('reads a birth date stored as a date and time without a zone as the day it names, in any server zone', () => {
    try {
      for (const tz of ['Asia/Tokyo', 'America/Los_Angeles', 'UTC']) {
        // Node applies a new TZ at once.
        vi.stubEnv('TZ', tz);
        for (const birthDate of ['2000-05-01T00:00:00', '2000-05-01T23:30:00.000', '2000-05-01 00:00:00']) {
          const read = readStoredProfile(stored({ birthDate })).birthDate;
          expect(read, `${birthDate} in ${tz}`).toEqual(new Date('2000-05-01T00:00:00Z'));
        }
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('reads a birth date that is no date as unknown', () => {
    for (const birthDate of ['not a date', '', { year: 1990 }, true, null, new Date(Number.NaN)]) {
      expect(readStoredProfile(stored({ birthDate }))).not.toHaveProperty('birthDate');
    }
  });

  it('reads a visibility it does not know, null or none included, as hidden', () => {
    expect(readStoredProfile(stored({ visibility: 'friends-only' })).visibility).toBe('hidden');
    expect(readStoredProfile(stored({ visibility: null })).visibility).toBe('hidden');
    const withNone = { _id: new Types.ObjectId() } as unknown as ProfileRecord;
    expect(readStoredProfile(withNone).visibility).toBe('hidden');
    expect(readStoredProfile(stored({ visibility: 'public' })).visibility).toBe('public');
  });

  it('reads the shown fields as their documented types: text as text, lists of text, known genders', () => {
    const read = readStoredProfile(
      stored({
        displayName: 42,
        bio: null,
        gender: 'robot',
        interestedIn: 'man',
        interests: ['chess', 7, null],
        photoIds: 'a1b2',
        views: '7',
      }),
    );
    expect(read).toMatchObject({ displayName: '42', interestedIn: ['man'], interests: ['chess'], photoIds: ['a1b2'] });
    for (const field of ['bio', 'gender', 'views']) expect(read).not.toHaveProperty(field);
    expect(readStoredProfile(stored({ interestedIn: ['woman', 'robot'], interests: { chess: true } }))).toMatchObject({
      interestedIn: ['woman'],
      interests: [],
    });
    expect(readStoredProfile(stored({ views: 7.5 }))).not.toHaveProperty('views');
  });

  it('reads a location with text for city and country and numbers for coordinates, keeping what search uses', () => {
    const base = { city: 'Lisbon', country: 'PT', cityKey: 'lisbon', cellRow: 12872, cellCol: -3047 };
    expect(
      readStoredProfile(stored({ location: { ...base, city: null, lat: '38.72', lng: 'west' } })).location,
    ).toEqual({ ...base, city: '', lat: 38.72 });
    expect(readStoredProfile(stored({ location: 'Lisbon' }))).not.toHaveProperty('location');
  });

  it('logs what needs repair without the coordinates or birth date it holds, private to the owner', () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const location = { city: 7, country: 'DE', cityKey: 'berlin', lat: '52.520008', lng: '13.404954' };
      readStoredProfile(stored({ birthDate: '13/05/1990', location }));
      readStoredProfile(stored({ location: '52.520008, 13.404954' }));
      readStoredProfile(stored({ birthDate: { day: 13, month: 5, year: 1990 } }));
      const lines = warn.mock.calls.map(([message]) => String(message));
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/needs repair: birthDate is .*; location is .*"city":7/);
      for (const line of lines) {
        for (const secret of ['52.52', '13.40', '1990', '13/05']) expect(line).not.toContain(secret);
      }
    } finally {
      warn.mockRestore();
    }
  });

  it('leaves a well-typed profile as the very objects it was read as', () => {
    const location = { city: 'Lisbon', country: 'PT', lat: 38.72, lng: -9.14, cityKey: 'lisbon' };
    const interests = ['chess'];
    const read = readStoredProfile(stored({ displayName: 'Ana', gender: 'woman', interests, location, views: 3 }));
    expect(read.location).toBe(location);
    expect(read.interests).toBe(interests);
    expect(read).toMatchObject({ displayName: 'Ana', gender: 'woman', views: 3 });
  });

  it('passes null through', () => {
    expect(readStoredProfile(null)).toBeNull();
  });
});
