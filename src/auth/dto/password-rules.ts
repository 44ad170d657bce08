import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength } from 'class-validator';

/**
 * What a new password must be, at registration and on a change. Length only: NIST 800-63B advises against
 * composition rules. 128 caps the hashing cost.
 */
export const NewPassword = (): PropertyDecorator =>
  applyDecorators(
    ApiProperty({ example: 'correct horse battery staple', minLength: 10, maxLength: 128 }),
    IsString(),
    MinLength(10),
    MaxLength(128),
  );
