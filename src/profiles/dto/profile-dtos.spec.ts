import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toFieldErrors } from '../../common/problem/validation-exception.factory.js';
import { AdvancedSearchQuery } from './advanced-search.query.js';
import { ageLimitProblem } from './age-limits.js';
import { CreateProfileDto } from './create-profile.dto.js';
import { LocationDto } from './location.dto.js';
import { NearbyQuery } from './nearby.query.js';
import { SearchProfilesQuery } from './search-profiles.query.js';
import { UpdateProfileDto } from './update-profile.dto.js';

type Dto = new () => object;

/** The DTO as the global ValidationPipe makes it, and its field errors (none when valid). */
function check<T extends object>(type: new () => T, plain: object): { dto: T; errors: { field: string }[] } {
  const dto = plainToInstance(type, plain);
  const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  return { dto, errors: toFieldErrors(errors) };
}
const fieldsWithErrors = (type: Dto, plain: object) => check(type, plain).errors.map((error) => error.field);

const berlin = { city: 'Berlin', country: 'DE', lat: 52.52, lng: 13.405 };
const profile = (overrides: object = {}) => ({
  displayName: 'Ann',
  birthDate: '1990-05-17',
  gender: 'woman',
  interestedIn: ['man'],
  location: berlin,
  ...overrides,
});

describe('interests', () => {
  it('stores each spelling of a tag as one: lower case, then NFC', () => {
    const { dto, errors } = check(CreateProfileDto, profile({ interests: ['Cafe\u0301', ' CAFÉ NOIR '] }));
    expect(errors).toEqual([]);
    expect(dto.interests).toEqual(['caf\u00e9', 'caf\u00e9 noir']);
  });

  it('accepts tags whose lower case has combining marks, folding the dotted İ as cities do; Devanagari vowel signs', () => {
    const { dto, errors } = check(CreateProfileDto, profile({ interests: ['İngilizce', 'हिन्दी'] }));
    expect(errors).toEqual([]);
    // As "Ingilizce" or "ingilizce" typed elsewhere: one tag, found by either.
    expect(dto.interests).toEqual(['ingilizce', 'हिन्दी']);
  });

  it('counts combining marks towards the 30 characters, and still wants a letter or digit first', () => {
    const stacked = 'ab' + '\u0301'.repeat(29);
    for (const tag of [stacked, '\u0301ab', 'x'])
      expect(fieldsWithErrors(CreateProfileDto, profile({ interests: [tag] })), tag).toEqual(['interests']);
    expect(fieldsWithErrors(CreateProfileDto, profile({ interests: ['ab' + '\u0301'.repeat(28)] }))).toEqual([]);
  });

  it("reads a query's interests comma-separated, repeated, or both, each normalised as stored ones are", () => {
    const read = (interests: unknown) => check(SearchProfilesQuery, { interests }).dto.interests;
    expect(read('Climbing')).toEqual(['climbing']);
    expect(read(['Climbing', 'Climbing'])).toEqual(['climbing', 'climbing']);
    expect(read(['Chess, Sailing', ' CLIMBING ', ''])).toEqual(['chess', 'sailing', 'climbing']);
    expect(read(['İstanbul', 'Cafe\u0301'])).toEqual(['istanbul', 'caf\u00e9']);
    expect(check(AdvancedSearchQuery, { interestsAll: ['Chess', 'Sailing'] }).dto.interestsAll).toEqual([
      'chess',
      'sailing',
    ]);
  });

  it('holds repeated interests to the same limits as comma-separated ones', () => {
    const eleven = Array.from({ length: 11 }, (_, i) => `tag${i}`);
    expect(fieldsWithErrors(SearchProfilesQuery, { interests: eleven })).toEqual(['interests']);
    expect(fieldsWithErrors(SearchProfilesQuery, { interests: ['a,b,c,d,e,f', 'g,h,i,j,k'] })).toEqual(['interests']);
    expect(fieldsWithErrors(SearchProfilesQuery, { interests: ['chess', 'x'.repeat(31)] })).toEqual(['interests']);
    expect(fieldsWithErrors(AdvancedSearchQuery, { interestsAll: eleven })).toEqual(['interestsAll']);
  });

  it('refuses a fields list that names no field, rather than guessing whether it means all or none', () => {
    for (const fields of ['', ',', ['', ' ']])
      expect(fieldsWithErrors(SearchProfilesQuery, { fields })).toEqual(['fields']);
    expect(check(SearchProfilesQuery, { fields: 'age, bio' }).dto.fields).toEqual(['age', 'bio']);
    expect(fieldsWithErrors(SearchProfilesQuery, {})).toEqual([]);
  });
});

describe('text too long to be a city or an interest', () => {
  // NFC orders a run of combining marks by insertion, in quadratic time: 80,000 marks in descending combining class (a
  // 160 KB body) held the event loop for over three seconds.
  const marks = 'a' + '\u0301'.repeat(5_000) + '\u0316'.repeat(5_000);

  /** The longest text normalised while `run` ran. */
  function longestNormalised(run: () => void): number {
    const normalize = vi.spyOn(String.prototype, 'normalize');
    try {
      run();
      return Math.max(0, ...normalize.mock.contexts.map((text) => String(text).length));
    } finally {
      normalize.mockRestore();
    }
  }

  it('is refused without being normalised, in a profile body and in a query', () => {
    const longest = longestNormalised(() => {
      const location = { ...berlin, city: marks };
      expect(fieldsWithErrors(CreateProfileDto, profile({ location }))).toEqual(['location.city']);
      expect(fieldsWithErrors(UpdateProfileDto, { location })).toEqual(['location.city']);
      expect(fieldsWithErrors(CreateProfileDto, profile({ interests: [marks] }))).toEqual(['interests']);
      expect(fieldsWithErrors(SearchProfilesQuery, { interests: marks })).toEqual(['interests']);
    });
    expect(longest).toBeLessThan(2_000);
  });

  it('still normalises a city or an interest padded with spaces', () => {
    const padded = (text: string) => `${' '.repeat(400)}${text}${' '.repeat(400)}`;
    expect(check(LocationDto, { ...berlin, city: padded('Sa\u0303o Paulo') }).dto.city).toBe('S\u00e3o Paulo');
    expect(check(CreateProfileDto, profile({ interests: [padded('Cafe\u0301')] })).dto.interests).toEqual([
      'caf\u00e9',
    ]);
  });
});

describe('fields of a search', () => {
  it('reads them comma-separated, repeated, or both, with spaces around names, and refuses unknown ones', () => {
    const read = (fields: unknown) => check(SearchProfilesQuery, { fields });
    expect(read('displayName, age').dto.fields).toEqual(['displayName', 'age']);
    expect(read(['displayName,age', 'bio']).dto.fields).toEqual(['displayName', 'age', 'bio']);
    expect(read(['displayName', ' age']).dto.fields).toEqual(['displayName', 'age']);
    expect(read(['displayName', 'email']).errors.map((error) => error.field)).toEqual(['fields']);
  });
});

describe('location', () => {
  it('stores a city in NFC, so its name and its key agree whichever way the accents came', () => {
    expect(check(LocationDto, { ...berlin, city: ' Sa\u0303o  Paulo ' }).dto.city).toBe('S\u00e3o Paulo');
  });

  it("takes a city typed with the apostrophes iOS puts in for ', and stores the ASCII one", () => {
    expect(check(LocationDto, { ...berlin, city: 'L\u2019Aquila' })).toMatchObject({
      dto: { city: "L'Aquila" },
      errors: [],
    });
    expect(check(LocationDto, { ...berlin, city: '\u2018s-Hertogenbosch' })).toMatchObject({
      dto: { city: "'s-Hertogenbosch" },
      errors: [],
    });
  });

  it('takes city names in any script, starting with a letter, never with a mark left over from no letter', () => {
    for (const city of ['Zürich', "Val-d'Isère", 'St. Gallen', "'s-Hertogenbosch", 'İstanbul', 'मुंबई', '東京', 'Ελλάδα'])
      expect(check(LocationDto, { ...berlin, city }).errors, city).toEqual([]);
    // A combining accent first would sit on nothing, shown at the head of the cities list.
    for (const city of ['\u0301a', '\u0301', '-Berlin', "'", "''s"])
      expect(new Set(fieldsWithErrors(LocationDto, { ...berlin, city })), city).toEqual(new Set(['city']));
  });

  it('accepts coordinates however close to zero, and the poles and the antimeridian', () => {
    for (const [lat, lng] of [
      [0.0000001, 0],
      [0, -0.0000005],
      [-1e-12, 1e-300],
      [90, -180],
      [-90, 180],
    ])
      expect(check(LocationDto, { ...berlin, lat, lng }).errors, `${lat},${lng}`).toEqual([]);
  });

  it('refuses coordinates out of range or not finite numbers', () => {
    for (const bad of [90.000001, -91, NaN, Infinity, '52.5', null, true])
      expect(fieldsWithErrors(LocationDto, { ...berlin, lat: bad }), String(bad)).toEqual(['lat']);
    for (const bad of [180.000001, -181, -Infinity, '13'])
      expect(fieldsWithErrors(LocationDto, { ...berlin, lng: bad }), String(bad)).toEqual(['lng']);
  });

  it('reads a nearby point in decimals, tiny ones in any notation; refuses other spellings and out of range', () => {
    for (const [lat, lng] of [
      ['0.0000001', '-0.0000005'],
      ['1e-7', '-5e-7'],
      ['1.0E-7', '-5.0E-7'],
    ])
      expect(check(NearbyQuery, { lat, lng }), lat).toMatchObject({ dto: { lat: 1e-7, lng: -5e-7 }, errors: [] });
    for (const lat of ['0x1', 'abc', '', '90.1', '9.1e1', 'NaN', 'Infinity'])
      expect(fieldsWithErrors(NearbyQuery, { lat, lng: '0' }), lat).toEqual(['lat']);
    expect(fieldsWithErrors(NearbyQuery, { lat: '0', lng: '-180.5' })).toEqual(['lng']);
  });
});

describe('age range of a search', () => {
  it('refuses maxAge below minAge, in the public and the advanced search, and takes a one-year range', () => {
    for (const type of [SearchProfilesQuery, AdvancedSearchQuery]) {
      expect(check(type, { minAge: '30', maxAge: '20' }).errors).toEqual([
        { field: 'maxAge', message: 'maxAge (20) must not be below minAge (30)' },
      ]);
      expect(check(type, { minAge: '22', maxAge: '22' }).errors).toEqual([]);
    }
  });
});

describe('age limits', () => {
  const day = (iso: string) => new Date(`${iso}T00:00:00.000Z`);
  const problem = (born: string, today: string) => ageLimitProblem(day(born), day(today), 18, 120);

  it('counts whole years, a 29 February birthday coming on 1 March in other years', () => {
    expect(problem('2010-03-01', '2028-02-29')).toBe('you must be at least 18');
    expect(problem('2010-02-28', '2028-02-29')).toBeUndefined();
    expect(problem('2008-02-29', '2026-02-28')).toBe('you must be at least 18');
    expect(problem('2008-02-29', '2026-03-01')).toBeUndefined();
    expect(problem('2010-02-28', '2028-02-27')).toBe('you must be at least 18');
  });

  it('lets in anyone up to 120 years old, not 121', () => {
    expect(problem('1908-02-29', '2028-02-29')).toBeUndefined();
    expect(problem('1907-03-01', '2028-02-29')).toBeUndefined();
    expect(problem('1907-02-28', '2028-02-29')).toBe('birthDate makes you older than 120');
  });

  describe('on a profile, on 29 February 2028', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('refuses someone born on 1 March 2010, a day short of 18', () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2028-02-29T12:00:00.000Z'));
      expect(check(CreateProfileDto, profile({ birthDate: '2010-03-01' })).errors).toEqual([
        { field: 'birthDate', message: 'you must be at least 18' },
      ]);
      expect(check(CreateProfileDto, profile({ birthDate: '2010-02-28' })).errors).toEqual([]);
      expect(check(UpdateProfileDto, { birthDate: '2010-03-01' }).errors).toEqual([
        { field: 'birthDate', message: 'you must be at least 18' },
      ]);
    });
  });
});

describe('visibility of an update', () => {
  it('may be left out, and is checked as on a create when sent: null and unknown values refused', () => {
    expect(fieldsWithErrors(UpdateProfileDto, { bio: 'Hi' })).toEqual([]);
    expect(check(UpdateProfileDto, { visibility: 'hidden' })).toMatchObject({
      errors: [],
      dto: { visibility: 'hidden' },
    });
    expect(fieldsWithErrors(UpdateProfileDto, { visibility: null })).toEqual(['visibility']);
    expect(fieldsWithErrors(UpdateProfileDto, { visibility: 'friends' })).toEqual(['visibility']);
  });
});
