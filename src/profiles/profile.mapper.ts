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

/** Database paths behind each public field, for `fields=` projections. */
const FIELD_PATHS: Record<PublicField, string[]> = {
  displayName: ['displayName'],
  bio: ['bio'],
  age: ['birthDate'],
  gender: ['gender'],
  interestedIn: ['interestedIn'],
  interests: ['interests'],
  location: ['location.city', 'location.country'],
  photoIds: ['photoIds'],
  views: ['views'],
  lastActiveAt: ['lastActiveAt'],
  createdAt: ['createdAt'],
};

export function projectionFor(fields: readonly PublicField[] | undefined): Record<string, 1> | undefined {
  if (!fields?.length) return undefined;
  return Object.fromEntries(fields.flatMap((field) => FIELD_PATHS[field]).map((path) => [path, 1 as const]));
}

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
  birthDate?: Date;
  visibility?: string;
  updatedAt?: Date;
}

/**
 * Builds the response explicitly, field by field, so internal fields (viewBatchId, __v, geocells)
 * can never leak. Owners and admins also see what only they should: birth date, visibility,
 * exact coordinates.
 */
export function toProfileView(
  profile: Partial<ProfileRecord> & Pick<ProfileRecord, '_id'>,
  options: { privileged: boolean; fields?: readonly PublicField[] } = { privileged: false },
): ProfileView {
  const wanted = new Set<PublicField>(options.fields?.length ? options.fields : PUBLIC_FIELDS);
  const view: ProfileView = { id: String(profile._id) };
  const has = (field: PublicField) => wanted.has(field);

  if (has('displayName')) view.displayName = profile.displayName;
  if (has('bio')) view.bio = profile.bio;
  if (has('age') && profile.birthDate) view.age = ageOn(new Date(profile.birthDate));
  if (has('gender')) view.gender = profile.gender;
  if (has('interestedIn')) view.interestedIn = profile.interestedIn;
  if (has('interests')) view.interests = profile.interests;
  if (has('location') && profile.location) {
    view.location = { city: profile.location.city, country: profile.location.country };
  }
  if (has('photoIds')) view.photoIds = profile.photoIds;
  if (has('views')) view.views = profile.views;
  if (has('lastActiveAt')) view.lastActiveAt = profile.lastActiveAt;
  if (has('createdAt')) view.createdAt = profile.createdAt;

  if (options.privileged && !options.fields?.length) {
    view.userId = String(profile.userId);
    view.birthDate = profile.birthDate;
    view.visibility = profile.visibility;
    view.updatedAt = profile.updatedAt;
    if (view.location && profile.location) {
      view.location.lat = profile.location.lat;
      view.location.lng = profile.location.lng;
    }
  }
  return view;
}

/** The public subset of a privileged view (for cached snapshots served to other members), field by field. */
export function toPublicView(view: ProfileView): ProfileView {
  return {
    id: view.id,
    displayName: view.displayName,
    bio: view.bio,
    age: view.age,
    gender: view.gender,
    interestedIn: view.interestedIn,
    interests: view.interests,
    location: view.location && { city: view.location.city, country: view.location.country },
    photoIds: view.photoIds,
    views: view.views,
    lastActiveAt: view.lastActiveAt,
    createdAt: view.createdAt,
  };
}
