import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsString, MaxLength, MinLength, ValidateBy } from 'class-validator';
import { INVISIBLE_CHARACTERS, normaliseEmail } from '../../users/email.js';

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

  // Length only: NIST 800-63B advises against composition rules. 128 caps the hashing cost.
  @ApiProperty({ example: 'correct horse battery staple', minLength: 10, maxLength: 128 })
  @IsString()
  @MinLength(10)
  @MaxLength(128)
  password: string;
}
