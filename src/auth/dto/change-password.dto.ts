import { ValidateBy } from 'class-validator';
import { CurrentPassword, MAX_PASSWORD_UTF16_UNITS, NewPassword } from './password-rules.js';

/**
 * A change to the password already held is refused: the client meant to replace it (after a leak, say) and would
 * otherwise be told it had. Compared in the form passwords are hashed in (NFKC), so "é" composed and decomposed are
 * the same password here as at login (text too long to be a password is left to MaxLength, unnormalised). POST
 * /v1/auth/logout-all ends sessions without a change.
 */
const DiffersFromCurrentPassword = (): PropertyDecorator =>
  ValidateBy({
    name: 'differsFromCurrentPassword',
    validator: {
      validate: (value, args) => {
        const { currentPassword } = args?.object as Partial<ChangePasswordDto>;
        if (typeof value !== 'string' || typeof currentPassword !== 'string') return true;
        if (Math.max(value.length, currentPassword.length) > MAX_PASSWORD_UTF16_UNITS) return true;
        return value.normalize('NFKC') !== currentPassword.normalize('NFKC');
      },
      defaultMessage: () => 'newPassword must differ from currentPassword',
    },
  });

export class ChangePasswordDto {
  @CurrentPassword('the password used to log in')
  currentPassword: string;

  @NewPassword()
  @DiffersFromCurrentPassword()
  newPassword: string;
}
