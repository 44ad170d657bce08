import { describe, expect, it } from 'vitest';
import { checkAccountEmail } from './account-email.js';

describe('an email with characters nobody sees', () => {
  // Each looks exactly like ann@example.com, so each was a second account a reader (an admin) cannot tell apart.
  it.each([
    ['a variation selector', 'ann\ufe00@example.com'],
    ['an ideographic variation selector', 'ann\u{e0100}@example.com'],
    ['the combining grapheme joiner', 'an\u034fn@example.com'],
    ['a Hangul filler', 'ann\u3164@example.com'],
    ['a halfwidth Hangul filler', 'ann\uffa0@example.com'],
    ['a Mongolian variation selector', 'ann\u180b@example.com'],
    ['a Khmer inherent vowel', 'ann\u17b4@example.com'],
  ])('is refused with %s', (_label, email) => {
    expect(checkAccountEmail(email).problems).toContain('email must not contain invisible characters');
  });

  it('still takes letters of any script, accents and internationalised domains', () => {
    for (const email of [
      'jos\u00e9@b\u00fccher.example',
      '\uae40\ubbfc\uc9c0@example.com',
      '\u0928\u092e\u0938\u094d\u0924\u0947@example.com',
    ])
      expect(checkAccountEmail(email).problems, email).toEqual([]);
  });
});
