import { plainToInstance } from 'class-transformer';
import { IsInt, IsNumber, validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { parseCalendarDate } from './calendar-date.js';
import { plainTextProblem } from './plain-text.js';
import { QueryNumber } from './query-number.js';

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
  it.each(['Ann', 'José María', '李小龙', 'R2', 'Ann 👋', 'زهرا\u200c'])('accepts the single line %j', (value) => {
    expect(plainTextProblem(value)).toBeUndefined();
  });

  it.each(['   ', '\u200b\u200b', '--', 'A\u0000nn', 'Ann\n', 'A\tnn', 'A\u0085nn', '\u202eAnn', 'Ann\u2066', 42])(
    'refuses the single line %j',
    (value) => {
      expect(plainTextProblem(value)).toBeDefined();
    },
  );

  it('lets multi-line text hold tabs and line breaks and be empty, but no other controls or bidi overrides', () => {
    expect(plainTextProblem('Line one\r\nLine two\tend', true)).toBeUndefined();
    expect(plainTextProblem('', true)).toBeUndefined();
    for (const value of ['A\u0000', 'A\u001b[31m', '\u202eA', 'A\u2069'])
      expect(plainTextProblem(value, true)).toBeDefined();
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

  it.each(['', ' ', ' 18', '18 ', '0x10', '1e2', '+5', '.5', '5.', 'Infinity', 'NaN', '1_000'])(
    'leaves %j unconverted, so the number check refuses it',
    (value) => {
      expect(check(value, value)).toEqual(['decimal', 'integer']);
    },
  );

  it('refuses a decimal where an integer is expected', () => {
    expect(check('1.5', '1.5')).toEqual(['integer']);
  });
});
