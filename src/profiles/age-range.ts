/**
 * The birth dates of members aged `minAge` to `maxAge` on `today`, in whole years as profiles show ages: born on or
 * before `bornBefore` (the last instant of the day `minAge` years back) and on or after `bornAfter` (the start of the
 * day after `maxAge` + 1 years back).
 */
export function birthDateRange(today: Date, minAge?: number, maxAge?: number): { bornBefore?: Date; bornAfter?: Date } {
  // Birth dates are stored at UTC midnight; a bound at today's time of day would leave out the last day of the range.
  const date = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
  return {
    // The day's end, not its midnight: ages are counted by UTC day, and birth dates stored before the API took only a
    // YYYY-MM-DD carry a time of day, so such a member was shown as minAge but not found until the day after.
    bornBefore: minAge !== undefined ? new Date(yearsBack(date, minAge, 1).getTime() - 1) : undefined,
    bornAfter: maxAge !== undefined ? yearsBack(date, maxAge + 1, 1) : undefined,
  };
}

/**
 * The same day `years` earlier, then `days` later. 29 February in a year without one is the 28th: setUTCFullYear
 * would make it 1 March, and count someone born that day a year older a day early.
 */
function yearsBack(date: Date, years: number, days = 0): Date {
  const year = date.getUTCFullYear() - years;
  const month = date.getUTCMonth();
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const shifted = new Date(date);
  shifted.setUTCFullYear(year, month, Math.min(date.getUTCDate(), lastDay) + days);
  return shifted;
}
