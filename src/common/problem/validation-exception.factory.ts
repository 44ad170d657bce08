import { BadRequestException } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { VALIDATION_PROBLEM_TYPE, type FieldError } from './problem-details.js';

const isText = (value: unknown) => typeof value === 'string' || Array.isArray(value);
const isNumeric = (value: unknown) => typeof value === 'number' || Array.isArray(value);

/**
 * Range and size checks, by the kind of value they measure. class-validator fails them on a value of any other kind
 * too, and their messages then say what is false: `radiusKm=2.5` (left a string, as it is no integer) was told it is
 * below 1 and above 100, a missing email that it is longer than 254 characters, next to the message that was true. An
 * array passes the text and number measures: with `each`, they measure its items.
 */
const MEASURES: Record<string, (value: unknown) => boolean> = {
  min: isNumeric,
  max: isNumeric,
  isLength: isText,
  minLength: isText,
  maxLength: isText,
  arrayMinSize: Array.isArray,
  arrayMaxSize: Array.isArray,
  arrayUnique: Array.isArray,
};

/** The messages of `error`'s failed checks, less the measures of a value they cannot measure (unless none is left). */
function messages(error: ValidationError): string[] {
  const failed = Object.entries(error.constraints ?? {});
  const meaningful = failed.filter(([name]) => MEASURES[name]?.(error.value) ?? true);
  return (meaningful.length > 0 ? meaningful : failed).map(([, message]) => message);
}

/** Flattens class-validator's tree into one entry per failed check of a field (`address.city`). */
export function toFieldErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = messages(error).map((message) => ({ field, message }));
    return [...own, ...toFieldErrors(error.children ?? [], field)];
  });
}

export function validationExceptionFactory(errors: ValidationError[]): BadRequestException {
  return new BadRequestException({
    type: VALIDATION_PROBLEM_TYPE,
    detail: 'The request has invalid fields; see errors.',
    errors: toFieldErrors(errors),
  });
}

/**
 * A 400 about one field that a check outside the DTOs refused (a cursor, an id in the path, a header): the problem a
 * DTO's checks give, its `errors` naming the field, so a client handles both alike. Until 2026-12-08 these were
 * generic problems without `errors`.
 */
export function invalidField(field: string, message: string): BadRequestException {
  // `message`, not `detail`: the problem's detail either way, and the exception's message too (in tests, in logs).
  return new BadRequestException({ type: VALIDATION_PROBLEM_TYPE, message, errors: [{ field, message }] });
}
