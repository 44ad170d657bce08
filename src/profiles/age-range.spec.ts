import { describe, expect, it } from 'vitest';
import { birthDateRange } from './age-range.js';
import { ageOn } from './profile.mapper.js';

const day = (iso: string) => new Date(`${iso}T00:00:00.000Z`);

describe('birthDateRange', () => {
  it('on 29 February: born 1 March 18 years back is 17, and outside minAge 18', () => {
    const today = day('2028-02-29');
    const { bornBefore, bornAfter } = birthDateRange(today, 18, 18);
    expect(bornBefore).toEqual(new Date('2010-02-28T23:59:59.999Z'));
    expect(bornAfter).toEqual(day('2009-03-01'));
  });

  it('agrees with the age profiles show, around every day of a leap year', () => {
    const births = ['2008-02-28', '2008-02-29', '2008-03-01', '2007-02-28', '2007-03-01', '2009-12-31'].map(day);
    for (let offset = 0; offset < 366; offset += 1) {
      const today = new Date(Date.UTC(2028, 0, 1 + offset, 13, 30));
      for (const age of [18, 19, 20]) {
        const { bornBefore, bornAfter } = birthDateRange(today, age, age);
        for (const born of births) {
          const inRange = born <= bornBefore! && born >= bornAfter!;
          expect(inRange, `${born.toISOString()} on ${today.toISOString()} as ${age}`).toBe(ageOn(born, today) === age);
        }
      }
    }
  });

  it('takes in the whole UTC day of each bound, as ages count it: birth dates stored with a time of day too', () => {
    // Versions before calendar-date validation stored whatever instant the client sent.
    const today = new Date('2026-12-07T09:00:00.000Z');
    const { bornBefore, bornAfter } = birthDateRange(today, 18, 30);
    for (const born of [new Date('2008-12-07T15:00:00.000Z'), new Date('1995-12-08T23:59:59.999Z')]) {
      expect(ageOn(born, today)).toBe(born.getUTCFullYear() === 2008 ? 18 : 30);
      expect(born <= bornBefore! && born >= bornAfter!, born.toISOString()).toBe(true);
    }
    for (const born of [new Date('2008-12-08T00:00:00.000Z'), new Date('1995-12-07T23:59:59.999Z')]) {
      expect(born <= bornBefore! && born >= bornAfter!, born.toISOString()).toBe(false);
    }
  });
});
