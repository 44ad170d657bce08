import type { ProfileRecord } from './profiles.repository.js';

/** Fields anyone may read and request with `fields=`. Exact coordinates and birth date are not among them. */
export const PUBLIC_FIELDS = [
  'displayName',
  'bio',
  'age',
  'gender',
  'interestedIn',
  'interests',
  'location',
  'photoIds',
  'views',
  'lastActiveAt',
  'createdAt',
] as const;
export type PublicField = (typeof PUBLIC_FIELDS)[number];

export function ageOn(birthDate: Date, today = new Date()): number {
  let age = today.getUTCFullYear() - birthDate.getUTCFullYear();
  const birthdayPassed =
    today.getUTCMonth() > birthDate.getUTCMonth() ||
    (today.getUTCMonth() === birthDate.getUTCMonth() && today.getUTCDate() >= birthDate.getUTCDate());
  if (!birthdayPassed) age -= 1;
  return age;
}

export interface ProfileView {
  id: string;
  displayName?: string;
  bio?: string;
  age?: number;
  gender?: string;
  interestedIn?: string[];
  interests?: string[];
  location?: { city: string; country: string; lat?: number; lng?: number };
  photoIds?: string[];
  views?: number;
  lastActiveAt?: Date;
  createdAt?: Date;
  // Owner and admin only:
  userId?: string;
  /** YYYY-MM-DD, the form it is written in: a day, not a moment. */
  birthDate?: string;
  visibility?: string;
  updatedAt?: Date;
}

/**
 * Builds the response explicitly, field by field, so internal fields (viewBatchId, __v, cellRow)
 * can never leak. Owners and admins also see what only they should: birth date, visibility,
 * exact coordinates.
 */
export function toProfileView(
  profile: Partial<ProfileRecord> & Pick<ProfileRecord, '_id'>,
  options: { privileged: boolean } = { privileged: false },
): ProfileView {
  const view: ProfileView = {
    id: String(profile._id),
    displayName: profile.displayName,
    bio: profile.bio,
    age: profile.birthDate && ageOn(new Date(profile.birthDate)),
    gender: profile.gender,
    interestedIn: profile.interestedIn,
    interests: profile.interests,
    location: profile.location && { city: profile.location.city, country: profile.location.country },
    photoIds: profile.photoIds,
    views: profile.views,
    lastActiveAt: profile.lastActiveAt,
    createdAt: profile.createdAt,
  };
  if (options.privileged) {
    view.userId = String(profile.userId);
    view.birthDate = profile.birthDate && new Date(profile.birthDate).toISOString().slice(0, 10);
    view.visibility = profile.visibility;
    view.updatedAt = profile.updatedAt;
    if (view.location && profile.location) {
      view.location.lat = profile.location.lat;
      view.location.lng = profile.location.lng;
    }
  }
  return view;
}

/**
 * Today's age when the view has the birth date (a privileged snapshot, cached for minutes), as the age filter
 * computes it; otherwise the age the view was built with.
 */
export function currentAge(view: ProfileView): number | undefined {
  return view.birthDate ? ageOn(new Date(view.birthDate)) : view.age;
}

/**
 * The public subset of a privileged view (cached snapshots served to other members), field by field;
 * with `fields`, only those (plus id), as `fields=` asks.
 */
export function toPublicView(view: ProfileView, fields?: readonly PublicField[]): ProfileView {
  const publicView: ProfileView = {
    id: view.id,
    displayName: view.displayName,
    bio: view.bio,
    age: currentAge(view),
    gender: view.gender,
    interestedIn: view.interestedIn,
    interests: view.interests,
    location: view.location && { city: view.location.city, country: view.location.country },
    photoIds: view.photoIds,
    views: view.views,
    lastActiveAt: view.lastActiveAt,
    createdAt: view.createdAt,
  };
  if (!fields?.length) return publicView;
  const picked: Partial<Record<PublicField | 'id', unknown>> = { id: view.id };
  for (const field of fields) picked[field] = publicView[field];
  return picked as ProfileView;
}
