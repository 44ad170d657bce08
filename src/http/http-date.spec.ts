import { describe, expect, it } from 'vitest';
import { httpDate } from './http-date.js';

describe('httpDate', () => {
  const instant = Date.parse('1994-11-06T08:49:37Z');

  it.each(['Sun, 06 Nov 1994 08:49:37 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994'])(
    'reads %j, in UTC',
    (value) => {
      expect(httpDate(value, new Date('2026-12-05T00:00:00Z'))).toBe(instant);
    },
  );

  it('reads a two-digit year in this century unless that is more than 50 years ahead, then in the last', () => {
    const now = new Date('2026-12-05T00:00:00Z');
    expect(httpDate('Wednesday, 01-Jan-76 00:00:00 GMT', now)).toBe(Date.parse('2076-01-01T00:00:00Z'));
    expect(httpDate('Friday, 31-Dec-76 00:00:00 GMT', now)).toBe(Date.parse('1976-12-31T00:00:00Z'));
    expect(httpDate('Saturday, 01-Jan-77 00:00:00 GMT', now)).toBe(Date.parse('1977-01-01T00:00:00Z'));
  });

  it.each(['Sat, 31 Dec 2016 23:59:60 GMT', 'Saturday, 31-Dec-16 23:59:60 GMT', 'Sat Dec 31 23:59:60 2016'])(
    'reads the leap second of %j (RFC 9110 section 5.6.7 allows 23:59:60) as the last whole second before it',
    (value) => {
      expect(httpDate(value, new Date('2026-12-05T00:00:00Z'))).toBe(Date.parse('2016-12-31T23:59:59Z'));
    },
  );

  it.each([
    'Sat, 31 Dec 2016 23:58:60 GMT',
    '2030',
    'yesterday',
    '2026-12-05T00:00:00Z',
    'Sun, 06 Nov 1994 08:49:37',
    'Sun, 06 Nov 1994 08:49:37 +0000',
    'Sun, 6 Nov 1994 08:49:37 GMT',
    'Tue, 31 Feb 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT',
    ' Sun, 06 Nov 1994 08:49:37 GMT',
    '',
    undefined,
  ])('refuses %j', (value) => {
    expect(httpDate(value)).toBeUndefined();
  });
});
