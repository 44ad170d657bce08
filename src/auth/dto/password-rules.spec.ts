import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { ChangePasswordDto } from './change-password.dto.js';
import { CredentialsDto, LoginDto } from './credentials.dto.js';

/** The fields refused, as the global ValidationPipe checks the DTO. */
function refused(type: new () => object, plain: object): string[] {
  const errors = validateSync(plainToInstance(type, plain), { whitelist: true, forbidNonWhitelisted: true });
  return errors.map((error) => error.property);
}

const email = 'ann@example.com';
/** "éééééé": six characters, sent with each accent as a combining mark (twelve code points). */
const sixDecomposed = 'e\u0301'.repeat(6);
const sixComposed = sixDecomposed.normalize('NFC');

describe('password rules', () => {
  it('counts a new password in characters after normalisation, not in code points as sent', () => {
    expect(refused(CredentialsDto, { email, password: sixDecomposed })).toEqual(['password']);
    expect(refused(ChangePasswordDto, { currentPassword: 'x', newPassword: sixDecomposed })).toEqual(['newPassword']);
    // Ten characters whatever their form, astral ones (one code point, two UTF-16 units) included.
    for (const password of ['e\u0301'.repeat(10), '\u00e9'.repeat(10), '\u{1F600}'.repeat(10), 'abcdefghij']) {
      expect(refused(CredentialsDto, { email, password }), password).toEqual([]);
    }
    expect(refused(CredentialsDto, { email, password: '\u{1F600}'.repeat(5) })).toEqual(['password']);
  });

  it('checks a login password only for what could match a stored one: any non-empty string up to 128', () => {
    // An account registered while length was counted as sent may have "éééééé" as its password; its owner types it
    // composed on another device.
    expect(refused(LoginDto, { email, password: sixComposed })).toEqual([]);
    expect(refused(LoginDto, { email, password: '' })).toEqual(['password']);
    expect(refused(LoginDto, { email, password: 'x'.repeat(129) })).toEqual(['password']);
    expect(refused(LoginDto, { email, password: { $ne: null } })).toEqual(['password']);
  });
});
