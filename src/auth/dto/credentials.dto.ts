import { ApiProperty } from '@nestjs/swagger';
import { AccountEmail } from '../../users/account-email.js';
import { CurrentPassword, NewPassword } from './password-rules.js';

/** Registration: the password is a new one, held to today's rules. */
export class CredentialsDto {
  @ApiProperty({ example: 'ann@example.com', maxLength: 254 })
  @AccountEmail()
  email: string;

  @NewPassword()
  password: string;
}

/** Login: the password only has to match the stored one (see CurrentPassword). */
export class LoginDto {
  @ApiProperty({ example: 'ann@example.com', maxLength: 254 })
  @AccountEmail()
  email: string;

  @CurrentPassword('correct horse battery staple')
  password: string;
}
