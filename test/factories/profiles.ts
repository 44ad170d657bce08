import { Types } from 'mongoose';
import { gridCellOf } from '../../src/profiles/geo.js';
import type { Account } from './accounts.js';

const LISBON = { city: 'Lisbon', cityKey: 'lisbon', country: 'PT', lat: 38.72, lng: -9.14 };

export interface ProfileInput {
  displayName: string;
  bio?: string;
  birthDate: string;
  gender: 'woman' | 'man' | 'nonbinary';
  interestedIn: string[];
  interests?: string[];
  location: { city: string; country: string; lat: number; lng: number };
  visibility?: 'public' | 'hidden';
  photoIds?: string[];
}

/** A valid profile (30 years old, in Berlin) with any field overridden. */
export function profileInput(overrides: Partial<ProfileInput> = {}): ProfileInput {
  const birth = new Date();
  birth.setUTCFullYear(birth.getUTCFullYear() - 30);
  return {
    displayName: 'Ann',
    bio: 'Climber and cook.',
    birthDate: birth.toISOString().slice(0, 10),
    gender: 'woman',
    interestedIn: ['man'],
    interests: ['climbing', 'cooking'],
    location: { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.405 },
    ...overrides,
  };
}

export async function createProfile(
  baseUrl: string,
  account: Account,
  overrides: Partial<ProfileInput> = {},
): Promise<{ id: string } & Record<string, unknown>> {
  const response = await fetch(`${baseUrl}/v1/profiles`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...account.auth },
    body: JSON.stringify(profileInput(overrides)),
  });
  if (response.status !== 201) throw new Error(`create profile failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { id: string } & Record<string, unknown>;
}

/**
 * The member's profile document in today's shape, public in Lisbon, for a test to insert past mongoose; `changes` set
 * fields, and remove those set to undefined.
 */
export function profileDocument(
  member: Account,
  changes: Record<string, unknown> = {},
): Record<string, unknown> & { _id: Types.ObjectId } {
  const now = new Date();
  const cell = gridCellOf(LISBON);
  const document: Record<string, unknown> = {
    userId: new Types.ObjectId(member.userId),
    displayName: 'Stored',
    bio: '',
    birthDate: new Date('1990-05-01T00:00:00Z'),
    gender: 'woman',
    interestedIn: ['man'],
    interests: ['chess'],
    location: { ...LISBON, cellRow: cell.row, cellCol: cell.col },
    photoIds: [],
    visibility: 'public',
    views: 0,
    lastActiveAt: now,
    createdAt: now,
    updatedAt: now,
    __v: 0,
    ...changes,
  };
  for (const [field, value] of Object.entries(document)) if (value === undefined) delete document[field];
  return { ...document, _id: new Types.ObjectId() };
}
