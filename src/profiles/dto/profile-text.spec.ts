import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { toFieldErrors } from '../../common/problem/validation-exception.factory.js';
import { CreateProfileDto } from './create-profile.dto.js';
import { SearchProfilesQuery } from './search-profiles.query.js';
import { UpdateProfileDto } from './update-profile.dto.js';

const profile = (overrides: object = {}) => ({
  displayName: 'Ann',
  birthDate: '1990-05-17',
  gender: 'woman',
  interestedIn: ['man'],
  location: { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.405 },
  ...overrides,
});
const location = (city: string) => ({ city, country: 'DE', lat: 52.52, lng: 13.405 });

/** The DTO as the validation pipe makes it, and the fields it refuses. */
function check<T extends object>(type: new () => T, plain: object): { dto: T; fields: string[] } {
  const dto = plainToInstance(type, plain);
  const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  return { dto, fields: toFieldErrors(errors).map((error) => error.field) };
}
const fieldsWithErrors = (type: new () => object, plain: object) => check(type, plain).fields;

// OpenAPI's minLength and maxLength (JSON Schema) count code points. "❤️" is two: U+2764 and the variation selector
// U+FE0F that asks for its emoji form; class-validator's Length left the selector out.
const heart = '\u2764\ufe0f';

describe('text lengths, counted as the OpenAPI document counts them (code points)', () => {
  it('refuses a display name, bio or city longer than its maxLength, emoji variation selectors included', () => {
    expect(fieldsWithErrors(CreateProfileDto, profile({ displayName: 'A' + heart.repeat(25) }))).toEqual([
      'displayName',
    ]);
    expect(fieldsWithErrors(CreateProfileDto, profile({ bio: heart.repeat(501) }))).toEqual(['bio']);
    const city = 'A' + 'b\ufe0f'.repeat(40); // 81 code points
    expect(fieldsWithErrors(CreateProfileDto, profile({ location: location(city) }))).toEqual(['location.city']);
    expect(fieldsWithErrors(SearchProfilesQuery, { city })).toEqual(['city']);
  });

  it('takes text at its maxLength, astral emoji (two UTF-16 units each) counted once', () => {
    expect(fieldsWithErrors(CreateProfileDto, profile({ displayName: 'A' + heart.repeat(24) + 'b' }))).toEqual([]);
    expect(fieldsWithErrors(CreateProfileDto, profile({ displayName: 'A' + '\u{1f600}'.repeat(49) }))).toEqual([]);
    expect(fieldsWithErrors(CreateProfileDto, profile({ bio: heart.repeat(500) }))).toEqual([]);
    expect(fieldsWithErrors(CreateProfileDto, profile({ bio: '\u{1f600}'.repeat(1000) }))).toEqual([]);
  });

  it('takes a display name of minLength code points, a variation selector being one', () => {
    expect(fieldsWithErrors(CreateProfileDto, profile({ displayName: 'A\ufe0f' }))).toEqual([]);
    expect(fieldsWithErrors(CreateProfileDto, profile({ displayName: '\u{1f600}A' }))).toEqual([]);
  });
});

describe('display name and bio, whichever way a device encodes accents', () => {
  it('are stored in NFC, as cities are, so one name is one string', () => {
    const nfd = check(
      CreateProfileDto,
      profile({ displayName: 'Jose\u0301 Zu\u0308rich', bio: 'Cafe\u0301 \ud55c\uad6d'.normalize('NFD') }),
    );
    expect(nfd.fields).toEqual([]);
    expect(nfd.dto.displayName).toBe('Jos\u00e9 Z\u00fcrich');
    expect(nfd.dto.bio).toBe('Caf\u00e9 \ud55c\uad6d');
    expect(check(UpdateProfileDto, { displayName: 'Zoe\u0308' }).dto.displayName).toBe('Zo\u00eb');
  });

  it('have their length measured in that form: one letter is too short however it is typed, 50 fit however typed', () => {
    for (const displayName of ['\u00c9', 'E\u0301', '\u00c9 ', ' E\u0301'])
      expect(fieldsWithErrors(CreateProfileDto, profile({ displayName })), JSON.stringify(displayName)).toEqual([
        'displayName',
      ]);
    // A Vietnamese name of 50 letters, sent decomposed (82 code points): as long as it is composed.
    const name = 'Nguy\u1ec5n Th\u1ecb Minh Khai Ph\u01b0\u01a1ng Th\u1ea3o Tr\u1ea7n L\u00ea V\u0169 Ho\u00e0ng';
    expect([...name].length).toBeLessThanOrEqual(50);
    expect(fieldsWithErrors(CreateProfileDto, profile({ displayName: name.normalize('NFD') }))).toEqual([]);
    // Korean typed on a system that decomposes Hangul: 400 syllables are 400 characters, not 1,000.
    const korean = '\ud55c\uad6d\uc5b4\uc694'.repeat(100).normalize('NFD');
    expect(fieldsWithErrors(CreateProfileDto, profile({ bio: korean }))).toEqual([]);
  });

  it('lose the spaces around a display name (only spaces), however long a run of them', () => {
    const trimmed = (displayName: string) => check(UpdateProfileDto, { displayName }).dto.displayName;
    expect(trimmed('\u3000 Ann\u00a0\u2009')).toBe('Ann');
    expect(trimmed('\ufeffAnn\n')).toBe('\ufeffAnn\n');
    // Trimmed by /\p{Zs}+$/, which reads a run of spaces to its end from each of them, this name of 100,000 spaces
    // held the event loop for about 20 s (8,000, as much as the input pipe lets through, for about 100 ms per
    // request); in one pass it takes milliseconds, and the test's timeout is far from either.
    expect(trimmed(`A${'\u3000'.repeat(100_000)}B`)).toHaveLength(100_002);
  }, 10_000);
});

describe('interests', () => {
  it('are held to the plain-text rules display names and cities are: no blank-looking or hidden tags', () => {
    const withInterests = (interests: string[]) => fieldsWithErrors(CreateProfileDto, profile({ interests }));
    expect(withInterests(['\u3164\u3164'])).toEqual(['interests']); // Hangul fillers: a tag that shows as blank
    // Four bytes hidden as variation selectors after a tag.
    expect(withInterests(['chess\ufe01\ufe02\ufe03\ufe04'])).toEqual(['interests']);
    expect(withInterests(['chess', 'k-pop', 'rock & roll', '\ud55c\uad6d\uc5b4'])).toEqual([]);
  });

  it('are stored in one form for each spelling of a tag, and keep what changes their spelling', () => {
    const stored = (...interests: string[]) => check(CreateProfileDto, profile({ interests })).dto.interests;
    // Latin letters as Japanese and Chinese input methods type them, and a doubled space.
    expect(stored('\uff28\uff29\uff2b\uff29\uff2e\uff27', ' Rock  Climbing ')).toEqual(['hiking', 'rock climbing']);
    // Half-width katakana (テニス, tennis) as their full-width letters.
    expect(stored('\uff83\uff86\uff7d')).toEqual(['\u30c6\u30cb\u30b9']);
    // Other compatibility forms are spelling: "½" (whose NFKC form has a fraction slash no tag may hold), an Arabic
    // vowel sign in its isolated form (in NFKC a space and a combining mark).
    expect(stored('\u00bd marathon', 'ab\ufe70d')).toEqual(['\u00bd marathon', 'ab\ufe70d']);
    expect(stored('Fu\u00dfball', '\u06a9\u062a\u0627\u0628\u200c\u062e\u0648\u0627\u0646\u06cc')).toEqual([
      'fu\u00dfball',
      '\u06a9\u062a\u0627\u0628\u200c\u062e\u0648\u0627\u0646\u06cc',
    ]);
  });
});

describe('zero-width (non-)joiners', () => {
  // Khorramabad and "book reading" in Persian, whose keyboard types the ZWNJ between the words' parts.
  const khorramabad = '\u062e\u0631\u0645\u200c\u0622\u0628\u0627\u062f';
  const bookReading = '\u06a9\u062a\u0627\u0628\u200c\u062e\u0648\u0627\u0646\u06cc';

  it('are taken inside a city or an interest, where they are spelling', () => {
    const plain = profile({
      location: location(khorramabad),
      interests: [bookReading, '\u0dc1\u0dca\u200d\u0dbb\u0dd3'],
    });
    expect(fieldsWithErrors(CreateProfileDto, plain)).toEqual([]);
  });

  it('are refused where they join nothing, at the end or beside a space', () => {
    const refused = (plain: object) => [...new Set(fieldsWithErrors(CreateProfileDto, profile(plain)))];
    expect(refused({ location: location('Berlin\u200c') })).toEqual(['location.city']);
    expect(refused({ interests: ['chess \u200dgo'] })).toEqual(['interests']);
  });
});
