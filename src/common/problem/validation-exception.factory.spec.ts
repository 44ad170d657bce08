import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { CredentialsDto } from '../../auth/dto/credentials.dto.js';
import { CreateProfileDto } from '../../profiles/dto/create-profile.dto.js';
import { NearbyQuery } from '../../profiles/dto/nearby.query.js';
import { SearchProfilesQuery } from '../../profiles/dto/search-profiles.query.js';
import { toFieldErrors, validationExceptionFactory } from './validation-exception.factory.js';

function error(
  property: string,
  constraints?: Record<string, string>,
  children: ValidationError[] = [],
  value?: unknown,
): ValidationError {
  return Object.assign(new ValidationError(), { property, constraints, children, value });
}

/** The field errors the global ValidationPipe would answer for `plain`. */
function fieldErrors(type: new () => object, plain: object) {
  return toFieldErrors(validateSync(plainToInstance(type, plain), { whitelist: true, forbidNonWhitelisted: true }));
}

describe('validation errors', () => {
  it('lists one entry per failing constraint, with dotted paths for nested fields', () => {
    const errors = [
      error('email', { isEmail: 'email must be an email' }),
      error('location', undefined, [
        error('lat', { max: 'lat must not be greater than 90', isLatitude: 'lat must be a latitude' }, [], 95),
      ]),
    ];
    expect(toFieldErrors(errors)).toEqual([
      { field: 'email', message: 'email must be an email' },
      { field: 'location.lat', message: 'lat must not be greater than 90' },
      { field: 'location.lat', message: 'lat must be a latitude' },
    ]);
  });

  it('says nothing false about a value of the wrong kind: no range or size for what is not a number or text', () => {
    // A client fixing its request by these messages went looking for a bound 2.5 was said to be below and above.
    expect(fieldErrors(NearbyQuery, { lat: '52.5', lng: '13.4', radiusKm: '2.5', limit: 'abc' })).toEqual([
      { field: 'radiusKm', message: 'radiusKm must be an integer number' },
      { field: 'limit', message: 'limit must be an integer number' },
    ]);
    expect(fieldErrors(SearchProfilesQuery, { limit: '0' })).toEqual([
      { field: 'limit', message: 'limit must not be less than 1' },
    ]);
    expect(fieldErrors(CredentialsDto, {})).toEqual([
      { field: 'email', message: 'email must be an email' },
      { field: 'password', message: 'password must be a string' },
    ]);
    const missing = fieldErrors(CreateProfileDto, {}).map(({ message }) => message);
    expect(missing).not.toContain('displayName must be 2 to 50 characters long (Unicode code points)');
    expect(missing).not.toContain("All interestedIn's elements must be unique");
    expect(missing).toContain('displayName must be a string');
  });

  it('keeps the size checks of each item of a list', () => {
    expect(fieldErrors(SearchProfilesQuery, { interests: ['x'.repeat(31)] })).toEqual([
      { field: 'interests', message: 'interests must be at most 30 characters long (Unicode code points)' },
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
