import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsString, MaxLength, MinLength } from 'class-validator';

/** Email is trimmed and lower-cased before validation, so "Ann@X.com " and "ann@x.com" are one account. */
const normaliseEmail = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim().toLowerCase() : value;

export class CredentialsDto {
  @ApiProperty({ example: 'ann@example.com', maxLength: 254 })
  @Transform(normaliseEmail)
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
