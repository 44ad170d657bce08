import { Types } from 'mongoose';
import type { ProfileRecord, ProfileWrite } from './profiles.repository.js';

// Profiles as MongoDB returns them, for unit specs. Beside them in src (a copy of src alone must type-check: see
// test/integration/nest-generate.int-spec.ts), and named *spec.ts so that the build leaves it out.

/** A public profile in Berlin as MongoDB stores it (cell 5252/1340, in tile 52/13). */
export const storedProfile: ProfileRecord = {
  _id: new Types.ObjectId(),
  userId: new Types.ObjectId(),
  displayName: 'Ann',
  bio: '',
  birthDate: new Date('1995-04-01'),
  gender: 'woman',
  interestedIn: ['man'],
  interests: ['chess', 'sailing'],
  location: { city: 'Berlin', cityKey: 'berlin', country: 'DE', lat: 52.52, lng: 13.405, cellRow: 5252, cellCol: 1340 },
  photoIds: [],
  visibility: 'public',
  views: 3,
  lastActiveAt: new Date('2026-12-01'),
  createdAt: new Date('2026-11-01'),
  updatedAt: new Date('2026-12-01'),
};

/** The same member in Munich (cell 4813/1157, in tile 48/11). */
export const inMunich = { ...storedProfile.location, lat: 48.137, lng: 11.575, cellRow: 4813, cellCol: 1157 };

/**
 * The update that turned `before` (by default storedProfile) into it with `changes`, as read back. Copies, as the
 * driver gives: nothing is shared between the two.
 */
export const writeOf = (changes: Record<string, unknown>, before: ProfileRecord = storedProfile): ProfileWrite => ({
  before: structuredClone(before),
  after: { ...structuredClone(before), ...changes },
});
