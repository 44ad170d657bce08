import { ApiProperty } from '@nestjs/swagger';
import { AccountEmail } from '../../users/account-email.js';
import { NewPassword } from './password-rules.js';

export class CredentialsDto {
  @ApiProperty({ example: 'ann@example.com', maxLength: 254 })
  @AccountEmail()
  email: string;

  // Login takes the same rules: a password registration refused cannot be an account's.
  @NewPassword()
  password: string;
}
