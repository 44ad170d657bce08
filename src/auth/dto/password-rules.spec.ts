import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { describe, expect, it, vi } from 'vitest';
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

  it('refuses a new password too long to be one without normalising it', () => {
    // NFKC writes U+FDFA as 18 characters: normalising 300,000 of them (a 1 MB body) held the event loop for a second.
    const normalize = vi.spyOn(String.prototype, 'normalize');
    try {
      const huge = '\ufdfa'.repeat(300_000);
      expect(refused(CredentialsDto, { email, password: huge })).toEqual(['password']);
      expect(refused(ChangePasswordDto, { currentPassword: 'x', newPassword: huge })).toEqual(['newPassword']);
      const longest = Math.max(0, ...normalize.mock.contexts.map((text) => String(text).length));
      expect(longest).toBeLessThan(1_000);
    } finally {
      normalize.mockRestore();
    }
    // Within the limit it is still counted after normalisation: 128 such characters are a valid password.
    expect(refused(CredentialsDto, { email, password: '\ufdfa'.repeat(128) })).toEqual([]);
  });
});
