import { ValidationError } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { toFieldErrors, validationExceptionFactory } from './validation-exception.factory.js';

function error(
  property: string,
  constraints?: Record<string, string>,
  children: ValidationError[] = [],
): ValidationError {
  return Object.assign(new ValidationError(), { property, constraints, children });
}

describe('validation errors', () => {
  it('lists one entry per failing constraint, with dotted paths for nested fields', () => {
    const errors = [
      error('email', { isEmail: 'email must be an email' }),
      error('location', undefined, [
        error('lat', { max: 'lat must not be greater than 90', isNumber: 'lat must be a number' }),
      ]),
    ];
    expect(toFieldErrors(errors)).toEqual([
      { field: 'email', message: 'email must be an email' },
      { field: 'location.lat', message: 'lat must not be greater than 90' },
      { field: 'location.lat', message: 'lat must be a number' },
    ]);
  });

  it('becomes a 400 with the validation problem type', () => {
    const exception = validationExceptionFactory([
      error('role', { whitelistValidation: 'property role should not exist' }),
    ]);
    expect(exception.getStatus()).toBe(400);
    expect(exception.getResponse()).toMatchObject({
      type: '/problems/validation-failed',
      errors: [{ field: 'role', message: 'property role should not exist' }],
    });
  });
});
