import { ValidateBy } from 'class-validator';
import { ageOn } from '../profile.mapper.js';

/**
 * Why someone born on `birthDate` is too young or too old for a profile on `today`, or undefined when they are not.
 * The age is counted in whole years, as profiles show it: a birthday on 29 February comes on 1 March in other years,
 * the usual legal convention. (Moving today back 18 years with setUTCFullYear instead turned 29 February 2028 into
 * 1 March 2010, and let in someone a day short of 18.)
 */
export function ageLimitProblem(birthDate: Date, today: Date, min: number, max: number): string | undefined {
  const age = ageOn(birthDate, today);
  if (age < min) return `you must be at least ${min}`;
  if (age > max) return `birthDate makes you older than ${max}`;
  return undefined;
}

/**
 * A birth date of someone `min` to `max` years old today (UTC). Anything but a Date passes: the date check before it
 * says what is wrong with that.
 */
export function HasAgeBetween(min: number, max: number): PropertyDecorator {
  const problem = (value: unknown) =>
    value instanceof Date ? ageLimitProblem(value, new Date(), min, max) : undefined;
  return ValidateBy({
    name: 'hasAgeBetween',
    validator: {
      validate: (value: unknown) => problem(value) === undefined,
      defaultMessage: (args) => problem(args?.value) ?? '',
    },
  });
}
