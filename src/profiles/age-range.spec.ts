import { describe, expect, it } from 'vitest';
import { birthDateRange } from './age-range.js';
import { ageOn } from './profile.mapper.js';

const day = (iso: string) => new Date(`${iso}T00:00:00.000Z`);

describe('birthDateRange', () => {
  it('on 29 February: born 1 March 18 years back is 17, and outside minAge 18', () => {
    const today = day('2028-02-29');
    const { bornBefore, bornAfter } = birthDateRange(today, 18, 18);
    expect(bornBefore).toEqual(day('2010-02-28'));
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
});
