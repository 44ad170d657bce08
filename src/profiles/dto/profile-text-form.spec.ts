import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { CreateProfileDto } from './create-profile.dto.js';
import { UpdateProfileDto } from './update-profile.dto.js';

function check<T extends { displayName?: string; bio?: string }>(type: new () => T, overrides: object) {
  const dto = plainToInstance(type, {
    displayName: 'Ann',
    birthDate: '1990-05-17',
    gender: 'woman',
    interestedIn: ['man'],
    location: { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.405 },
    ...overrides,
  });
  const fields = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true }).map((error) => error.property);
  return { dto, fields };
}

describe('display name and bio, whichever way a device encodes accents', () => {
  it('are stored in NFC, as cities are, so one name is one string', () => {
    const nfd = check(CreateProfileDto, {
      displayName: 'Jose\u0301 Zu\u0308rich',
      bio: 'Cafe\u0301 \ud55c\uad6d'.normalize('NFD'),
    });
    expect(nfd.fields).toEqual([]);
    expect(nfd.dto.displayName).toBe('Jos\u00e9 Z\u00fcrich');
    expect(nfd.dto.bio).toBe('Caf\u00e9 \ud55c\uad6d');
    expect(check(UpdateProfileDto, { displayName: 'Zoe\u0308' }).dto.displayName).toBe('Zo\u00eb');
  });

  it('have their length measured in that form: one letter is too short however it is typed, 50 fit however typed', () => {
    for (const displayName of ['\u00c9', 'E\u0301', '\u00c9 ', ' E\u0301'])
      expect(check(CreateProfileDto, { displayName }).fields, JSON.stringify(displayName)).toEqual(['displayName']);
    // A Vietnamese name of 50 letters, sent decomposed (82 code points): as long as it is composed.
    const name = 'Nguy\u1ec5n Th\u1ecb Minh Khai Ph\u01b0\u01a1ng Th\u1ea3o Tr\u1ea7n L\u00ea V\u0169 Ho\u00e0ng';
    expect([...name].length).toBeLessThanOrEqual(50);
    expect(check(CreateProfileDto, { displayName: name.normalize('NFD') }).fields).toEqual([]);
    // Korean typed on a system that decomposes Hangul: 400 syllables are 400 characters, not 1,000.
    expect(check(CreateProfileDto, { bio: '\ud55c\uad6d\uc5b4\uc694'.repeat(100).normalize('NFD') }).fields).toEqual(
      [],
    );
  });
});
