import { applyDecorators } from '@nestjs/common';
import { plainToInstance, Transform } from 'class-transformer';
import { IsEmail, MaxLength, ValidateBy, validateSync } from 'class-validator';
import { INVISIBLE_CHARACTERS, normaliseEmail } from './email.js';

/**
 * What an account's email must be, at register and login: normalised first (so "Ann@X.com " and "ann@x.com", or a
 * decomposed accent, are one account), then a valid address of at most 254 characters without invisible characters.
 */
export const AccountEmail = (): PropertyDecorator =>
  applyDecorators(
    Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? normaliseEmail(value) : value)),
    ValidateBy({
      name: 'noInvisibleCharacters',
      validator: {
        validate: (value) => typeof value !== 'string' || !INVISIBLE_CHARACTERS.test(value),
        defaultMessage: () => 'email must not contain invisible characters',
      },
    }),
    IsEmail(),
    MaxLength(254),
  );

class AccountEmailInput {
  @AccountEmail()
  email: string;
}

/**
 * An email checked as register and login check it, for those that take one outside a request (ADMIN_EMAIL): its
 * normalised form, and what is wrong with it (empty when nothing is). An address they refuse could never log in.
 */
export function checkAccountEmail(email: string): { email: string; problems: string[] } {
  const input = plainToInstance(AccountEmailInput, { email });
  const problems = validateSync(input).flatMap((error) => Object.values(error.constraints ?? {}));
  return { email: input.email, problems };
}
