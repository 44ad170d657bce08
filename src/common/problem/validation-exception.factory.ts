import { BadRequestException } from '@nestjs/common';
import type { ValidationError } from 'class-validator';
import { VALIDATION_PROBLEM_TYPE, type FieldError } from './problem-details.js';

/** Flattens class-validator's tree into one entry per failing field (`address.city`). */
export function toFieldErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
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
