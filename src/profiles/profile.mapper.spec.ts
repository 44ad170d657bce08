import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { ageOn, toProfileView, toPublicView, type ProfileView } from './profile.mapper.js';
import type { ProfileRecord } from './profiles.repository.js';

const record = {
  _id: new Types.ObjectId(),
  userId: new Types.ObjectId(),
  displayName: 'Ann',
  bio: 'Climber and cook.',
  birthDate: new Date('1990-01-01'),
  gender: 'woman',
  interestedIn: ['man'],
  interests: ['climbing'],
  location: { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.405, cityKey: 'berlin', cellRow: 5252, cellCol: 1340 },
  photoIds: [],
  views: 7,
  visibility: 'public',
} as unknown as ProfileRecord;

describe('profile views', () => {
  it('keeps birth date, owner, visibility and coordinates out of the public view of a privileged one', () => {
    const view = JSON.parse(JSON.stringify(toPublicView(toProfileView(record, { privileged: true })))) as object;
    expect(Object.keys(view).sort()).toEqual(
      [
        'age',
        'bio',
        'displayName',
        'gender',
        'id',
        'interestedIn',
        'interests',
        'location',
        'photoIds',
        'views',
      ].sort(),
    );
    expect(view).toMatchObject({ location: { city: 'Berlin', country: 'DE' } });
    expect(view).not.toHaveProperty('location.lat');
  });

  it('gives the owner the birth date as the day it was written, YYYY-MM-DD', () => {
    expect(toProfileView(record, { privileged: true }).birthDate).toBe('1990-01-01');
  });

  it('returns only the fields asked for, plus id', () => {
    const view = toPublicView(toProfileView(record, { privileged: true }), ['displayName', 'location']);
    expect(view).toEqual({ id: String(record._id), displayName: 'Ann', location: { city: 'Berlin', country: 'DE' } });
  });
});

describe('age in public views of cached snapshots', () => {
  it('is computed from the birth date on the day of the read, not when the snapshot was made', () => {
    const snapshot = { ...toProfileView(record, { privileged: true }), age: 12 };
    expect(toPublicView(snapshot).age).toBe(ageOn(new Date('1990-01-01')));
    // After a round trip through Redis the birth date is a string.
    expect(toPublicView(JSON.parse(JSON.stringify(snapshot)) as ProfileView).age).toBe(ageOn(new Date('1990-01-01')));
  });
});
