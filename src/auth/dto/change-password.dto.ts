import { CurrentPassword, NewPassword } from './password-rules.js';

export class ChangePasswordDto {
  @CurrentPassword('the password used to log in')
  currentPassword: string;

  @NewPassword()
  newPassword: string;
}
