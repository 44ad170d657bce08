import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength, ValidateBy } from 'class-validator';

export const MIN_PASSWORD_CHARACTERS = 10;
export const MAX_PASSWORD_CHARACTERS = 128;
/**
 * The most UTF-16 units a password within MAX_PASSWORD_CHARACTERS can have, as MaxLength counts characters: an astral
 * code point (a surrogate pair) with a variation selector is one. Longer text fails MaxLength whatever it holds.
 */
export const MAX_PASSWORD_UTF16_UNITS = 3 * MAX_PASSWORD_CHARACTERS;

/**
 * A password's length as NIST 800-63B (5.1.1.2) counts it: Unicode code points of the normalised form, the one
 * PasswordHasher hashes. Counted as sent, "é" typed as "e" plus a combining accent was two characters, so ten such
 * code points passed as a ten-character password that is five, and its owner, typing the composed "é" elsewhere,
 * was refused at login as too short.
 */
export const passwordCharacters = (password: string): number => [...password.normalize('NFKC')].length;

/**
 * What a new password must be, at registration and on a change. Length only: NIST 800-63B advises against
 * composition rules. 128 (UTF-16 units as sent) caps the hashing cost.
 */
export const NewPassword = (): PropertyDecorator =>
  applyDecorators(
    ApiProperty({
      example: 'correct horse battery staple',
      minLength: MIN_PASSWORD_CHARACTERS,
      maxLength: MAX_PASSWORD_CHARACTERS,
      description: `At least ${MIN_PASSWORD_CHARACTERS} characters, counted after Unicode normalisation (NFKC)`,
    }),
    IsString(),
    ValidateBy({
      name: 'minPasswordCharacters',
      validator: {
        // Text MaxLength refuses anyway is not normalised: NFKC expands some characters 18-fold (U+FDFA), and a
        // 1 MB body of them held the event loop for most of a second before the refusal.
        validate: (value) =>
          typeof value !== 'string' ||
          value.length > MAX_PASSWORD_UTF16_UNITS ||
          passwordCharacters(value) >= MIN_PASSWORD_CHARACTERS,
        defaultMessage: (args) =>
          `${args?.property ?? 'password'} must be at least ${MIN_PASSWORD_CHARACTERS} characters long, counted ` +
          'after Unicode normalisation (an accent typed as a separate mark is part of its letter)',
      },
    }),
    MaxLength(MAX_PASSWORD_CHARACTERS),
  );

/**
 * A password checked against the stored one (login, the current one of a change): not held to today's rules, it only
 * has to match. Accounts registered while the length was counted as sent can have passwords shorter than
 * MIN_PASSWORD_CHARACTERS in the form their owners type on another device. 128 caps the hashing cost.
 */
export const CurrentPassword = (example: string): PropertyDecorator =>
  applyDecorators(ApiProperty({ example, minLength: 1, maxLength: 128 }), IsString(), IsNotEmpty(), MaxLength(128));
