import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { toFieldErrors } from '../../common/problem/validation-exception.factory.js';
import { CreateProfileDto } from './create-profile.dto.js';
import { SearchProfilesQuery } from './search-profiles.query.js';

const fieldsWithErrors = (type: new () => object, plain: object) =>
  toFieldErrors(validateSync(plainToInstance(type, plain), { whitelist: true, forbidNonWhitelisted: true })).map(
    (error) => error.field,
  );
const profile = (overrides: object = {}) => ({
  displayName: 'Ann',
  birthDate: '1990-05-17',
  gender: 'woman',
  interestedIn: ['man'],
  location: { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.405 },
  ...overrides,
});
const location = (city: string) => ({ city, country: 'DE', lat: 52.52, lng: 13.405 });

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
