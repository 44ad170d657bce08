import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, MaxLength, ValidateBy } from 'class-validator';
import { INVISIBLE_CHARACTERS, normaliseEmail } from '../../users/email.js';
import { NewPassword } from './password-rules.js';

/** Normalised before validation, so "Ann@X.com " and "ann@x.com" (or a decomposed accent) are one account. */
const normalised = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? normaliseEmail(value) : value;

export class CredentialsDto {
  @ApiProperty({ example: 'ann@example.com', maxLength: 254 })
  @Transform(normalised)
  @ValidateBy({
    name: 'noInvisibleCharacters',
    validator: {
      validate: (value) => typeof value !== 'string' || !INVISIBLE_CHARACTERS.test(value),
      defaultMessage: () => 'email must not contain invisible characters',
    },
  })
  @IsEmail()
  @MaxLength(254)
  email: string;

  // Login takes the same rules: a password registration refused cannot be an account's.
  @NewPassword()
  password: string;
}
