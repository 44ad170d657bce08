import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDate } from 'class-validator';

// Also midnight UTC written out in full, as a profile's owner reads the birth date back, so it can be sent again.
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T00:00:00(?:\.000)?Z)?$/;

/** UTC midnight of a `YYYY-MM-DD` that names a day that exists; undefined for anything else. */
export function parseCalendarDate(value: unknown): Date | undefined {
  const match = typeof value === 'string' ? ISO_DATE.exec(value) : null;
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC rolls 1990-02-30 over to March 2 (and reads years 0–99 as 1900–1999): such dates do not round-trip.
  const exists = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return exists ? date : undefined;
}

/**
 * A calendar date written exactly as `YYYY-MM-DD`, delivered to the handler as a Date at UTC midnight. `new Date()`,
 * which class-transformer's `@Type(() => Date)` uses, takes booleans, epoch numbers, a bare year and impossible days.
 */
export function IsCalendarDate(): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) => parseCalendarDate(value) ?? value),
    IsDate({ message: '$property must be a calendar date written as YYYY-MM-DD' }),
  );
}
