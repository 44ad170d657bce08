import { plainToInstance } from 'class-transformer';
import { IsInt, IsNumber, validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { parseCalendarDate } from './calendar-date.js';
import { IsLatitudeNumber, IsLongitudeNumber } from './coordinates.js';
import { IsCountryCode } from './country-code.js';
import { plainTextProblem } from './plain-text.js';
import { QueryNumber } from './query-number.js';
import { IsNotBelow } from './range-bound.js';

describe('parseCalendarDate', () => {
  it('reads YYYY-MM-DD days that exist as UTC midnight', () => {
    expect(parseCalendarDate('1990-02-28')?.toISOString()).toBe('1990-02-28T00:00:00.000Z');
    expect(parseCalendarDate('2000-02-29')?.toISOString()).toBe('2000-02-29T00:00:00.000Z');
    expect(parseCalendarDate('1990-02-28T00:00:00.000Z')?.toISOString()).toBe('1990-02-28T00:00:00.000Z');
  });

  it.each([
    '1990-02-30',
    '1900-02-29',
    '1990-13-01',
    '1990-00-10',
    '0050-01-01',
    '1990',
    '1990-1-1',
    ' 1990-01-01',
    '1990-01-01T12:00:00Z',
    '1990-01-01T00:00:00+01:00',
    true,
    0,
    631152000000,
    null,
  ])('refuses %j', (value) => {
    expect(parseCalendarDate(value)).toBeUndefined();
  });
});

describe('plainTextProblem', () => {
  it.each([
    'Ann',
    'José María',
    '李小龙',
    'R2',
    'Ann 👋',
    'زهرا',
    'می\u200cخواهم',
    'ශ්\u200dරී',
    'Zoë 👩\u200d🚀',
    'Kim 👩🏽\u200d🚀 ❤️\u200d🔥',
    'Ann 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}',
    '김민지',
    'زهرا (2)\u200f', // a right-to-left mark after the closing parenthesis
  ])('accepts the single line %j', (value) => {
    expect(plainTextProblem(value)).toBeUndefined();
  });

  it.each([
    ['a line separator', 'Ann\u2028Bob'],
    ['a paragraph separator', 'Ann\u2029Bob'],
    ['a leading byte-order mark', '\ufeffAnn'],
    ['tag characters', 'Ann\u{E0041}\u{E0042}'],
    ['tag characters not spelling a flag', 'Ann 🏴\u{E0041}\u{E007F}'],
    ['zero-width spaces', 'Ab' + '\u200b'.repeat(48)],
    ['a soft hyphen', 'An\u00adn'],
    ['a joiner not between letters', 'Ann\u200d'],
    ['a non-joiner at the start', '\u200cAnn'],
    ['a Hangul filler', '\u3164'],
    ['a Hangul choseong filler', 'Ann\u115f'],
    ['a Hangul jungseong filler', '\u1160\u1160'],
    ['a halfwidth Hangul filler', '\uffa0Ann'],
  ])('refuses a single line with %s', (_label, value) => {
    expect(plainTextProblem(value)).toBeDefined();
  });

  it.each(['   ', '\u200b\u200b', '--', 'A\u0000nn', 'Ann\n', 'A\tnn', 'A\u0085nn', '\u202eAnn', 'Ann\u2066', 42])(
    'refuses the single line %j',
    (value) => {
      expect(plainTextProblem(value)).toBeDefined();
    },
  );

  it('lets multi-line text hold tabs and line breaks and be empty, but no other controls or bidi overrides', () => {
    expect(plainTextProblem('Line one\r\nLine two\tend', true)).toBeUndefined();
    expect(plainTextProblem('Line one\n\nmi\u200cxam 👩\u200d🚀', true)).toBeUndefined();
    expect(plainTextProblem('', true)).toBeUndefined();
    for (const value of ['A\u0000', 'A\u001b[31m', '\u202eA', 'A\u2069'])
      expect(plainTextProblem(value, true)).toBeDefined();
  });

  it('refuses separators other than \\n, invisible formatting and fillers in multi-line text too', () => {
    for (const value of ['One\u2028Two', 'One\u2029Two', '\ufeffHi', 'Hi\u{E0041}', 'Hi\u200b', '\u3164\n\u3164'])
      expect(plainTextProblem(value, true), JSON.stringify(value)).toBeDefined();
  });
});

describe('QueryNumber', () => {
  class Query {
    @QueryNumber()
    @IsNumber({ allowNaN: false, allowInfinity: false })
    decimal: number;

    @QueryNumber({ integer: true })
    @IsInt()
    integer: number;
  }
  const check = (decimal: unknown, integer: unknown) =>
    validateSync(plainToInstance(Query, { decimal, integer })).map((error) => error.property);

  it('converts plain decimals, and integers where an integer is expected', () => {
    const query = plainToInstance(Query, { decimal: '-13.405', integer: '20' });
    expect(query).toMatchObject({ decimal: -13.405, integer: 20 });
    expect(check('52', '-3')).toEqual([]);
  });

  it.each(['', ' ', ' 18', '18 ', '0x10', '+5', '.5', '5.', 'e5', '1e', '1e+', 'Infinity', 'NaN', '1_000'])(
    'leaves %j unconverted, so the number check refuses it',
    (value) => {
      expect(check(value, value)).toEqual(['decimal', 'integer']);
    },
  );

  it('converts a decimal with an exponent, as clients print small numbers, but not an integer', () => {
    for (const [text, value] of [
      ['1e-7', 1e-7],
      ['-5.0E-4', -0.0005],
      ['1e-05', 0.00001],
      ['1E+2', 100],
    ] as const) {
      expect(plainToInstance(Query, { decimal: text }).decimal, text).toBe(value);
      expect(check(text, text), text).toEqual(['integer']);
    }
  });

  it('refuses a decimal where an integer is expected', () => {
    expect(check('1.5', '1.5')).toEqual(['integer']);
  });
});

describe('IsLatitudeNumber and IsLongitudeNumber', () => {
  class Point {
    @IsLatitudeNumber()
    lat: unknown;

    @IsLongitudeNumber()
    lng: unknown;
  }
  const refused = (lat: unknown, lng: unknown) =>
    validateSync(Object.assign(new Point(), { lat, lng })).map((error) => error.property);

  it('accepts numbers in range however they print: 1e-7 is a latitude', () => {
    for (const [lat, lng] of [
      [1e-7, -5e-7],
      [-0, 0],
      [90, 180],
      [-90, -180],
      [52.52, 13.405],
    ])
      expect(refused(lat, lng), `${lat},${lng}`).toEqual([]);
  });

  it('refuses numbers out of range, NaN, infinities and anything not a number', () => {
    expect(refused(90.1, 180.1)).toEqual(['lat', 'lng']);
    expect(refused(NaN, Infinity)).toEqual(['lat', 'lng']);
    expect(refused('1', '1')).toEqual(['lat', 'lng']);
    expect(refused(null, undefined)).toEqual(['lat', 'lng']);
  });

  it('says which range', () => {
    const [lat] = validateSync(Object.assign(new Point(), { lat: 91, lng: 0 }));
    expect(Object.values(lat?.constraints ?? {})).toEqual(['lat must be a latitude: a number from -90 to 90']);
  });
});

describe('IsNotBelow', () => {
  class Range {
    min?: unknown;

    @IsNotBelow('min')
    max?: unknown;
  }
  const messages = (min: unknown, max: unknown) =>
    validateSync(Object.assign(new Range(), { min, max })).flatMap((error) => Object.values(error.constraints ?? {}));

  it('refuses an upper end below the lower one, naming both and their values', () => {
    expect(messages(30, 20)).toEqual(['max (20) must not be below min (30)']);
  });

  it('takes equal ends, and leaves a missing or non-numeric end to its own checks', () => {
    for (const [min, max] of [
      [22, 22],
      [20, 30],
      [undefined, 20],
      [30, undefined],
      ['abc', 20],
    ])
      expect(messages(min, max), `${String(min)}..${String(max)}`).toEqual([]);
  });
});

describe('IsCountryCode', () => {
  class Place {
    @IsCountryCode() country: unknown;
  }
  const problems = (country: unknown) => validateSync(plainToInstance(Place, { country }));

  it.each(['DE', 'BR', 'XK'])('takes %s', (country) => {
    expect(problems(country)).toEqual([]);
  });

  it.each(['XX', 'DEU', 'UK', '', 49, null])('refuses %j', (country) => {
    expect(problems(country)).toHaveLength(1);
  });
});
