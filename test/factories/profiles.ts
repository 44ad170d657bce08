import type { Account } from './accounts.js';

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
