import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { NewPassword } from './password-rules.js';

export class ChangePasswordDto {
  // Not held to today's rules: it only has to match what is stored. 128 caps the hashing cost.
  @ApiProperty({ example: 'the password used to log in', maxLength: 128 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(128)
  currentPassword: string;

  @NewPassword()
  newPassword: string;
}
