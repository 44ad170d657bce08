import { describe, expect, it } from 'vitest';
import { checkAccountEmail } from './account-email.js';
import { INVISIBLE_CHARACTERS, normaliseEmail } from './email.js';

describe('normaliseEmail', () => {
  it('gives variants a reader cannot tell apart one form', () => {
    const variants = [
      '  Jose\u0301@Example.com ', // decomposed accent (NFD)
      'jos\u00e9@example.com', // composed (NFC)
      'JOS\u00c9@EXAMPLE.COM',
    ];
    expect(new Set(variants.map(normaliseEmail))).toEqual(new Set(['jos\u00e9@example.com']));
    expect(normaliseEmail('\uff41nn@example.com')).toBe('ann@example.com'); // full-width a
  });

  it('drops quotes that change nothing from the local part, as mail servers do', () => {
    expect(normaliseEmail('"Ann"@Example.com')).toBe('ann@example.com');
    expect(normaliseEmail('"ann.b+tag"@example.com')).toBe('ann.b+tag@example.com');
    expect(normaliseEmail('"j\u00f6rg"@example.com')).toBe('j\u00f6rg@example.com');
    // Quotes that hold what a plain local part may not (a space, two dots, an @) name another mailbox: kept.
    for (const kept of ['"ann b"@example.com', '"ann..b"@example.com', '"a@b"@example.com', '""@example.com'])
      expect(normaliseEmail(kept)).toBe(kept);
    expect(checkAccountEmail('"ann"@example.com')).toEqual({ email: 'ann@example.com', problems: [] });
  });

  it('gives an address and its capitals one form in every script (caseless, not only lower-cased)', () => {
    // "ΝΙΚΟΣ" is the capitals of "νικοσ", but toLowerCase lowers a word-final Σ to ς: one mailbox, two accounts.
    expect(normaliseEmail('\u039d\u0399\u039a\u039f\u03a3@example.com')).toBe(
      normaliseEmail('\u03bd\u03b9\u03ba\u03bf\u03c3@example.com'),
    );
    expect(normaliseEmail('\u03bd\u03b9\u03ba\u03bf\u03c2@example.com')).toBe(
      normaliseEmail('\u03bd\u03b9\u03ba\u03bf\u03c3@example.com'),
    );
    // A Turkish keyboard's capital \u0130 lowers to "i" plus a combining dot, which reads as "i" (as cities fold it).
    expect(normaliseEmail('\u0130nci@example.com')).toBe('inci@example.com');
    // The domain is left to IDNA, where \u03c2 and \u03c3 are different names.
    expect(normaliseEmail('a@\u03b1\u03c2.example')).not.toBe(normaliseEmail('a@\u03b1\u03c3.example'));
    for (const email of ['\u039d\u0399\u039a\u039f\u03a3@example.com', '\u0130nci@example.com'])
      expect(normaliseEmail(normaliseEmail(email))).toBe(normaliseEmail(email));
  });

  it('writes an internationalised domain in ASCII', () => {
    expect(normaliseEmail('bob@B\u00fccher.example')).toBe('bob@xn--bcher-kva.example');
    expect(normaliseEmail('bob@xn--bcher-kva.example')).toBe('bob@xn--bcher-kva.example');
  });

  it('leaves text without a valid domain for the validator to refuse', () => {
    expect(normaliseEmail('not an email')).toBe('not an email');
    expect(normaliseEmail('a@exa mple.com')).toBe('a@exa mple.com');
  });

  it('leaves text longer than any address as it is, for the validator to refuse as too long', () => {
    // NFKC writes U+FDFA as 18 characters: 300,000 of them (a 1 MB body) took a second of the event loop to normalise.
    const huge = `a@${'\ufdfa'.repeat(300_000)}.example`;
    expect(normaliseEmail(huge)).toBe(huge);
    expect(checkAccountEmail(huge).problems).toContain('email must be shorter than or equal to 254 characters');
    // An address with spaces around it and accents typed as separate marks is still normalised.
    expect(normaliseEmail(`${' '.repeat(300)}Jose\u0301@Example.com${' '.repeat(300)}`)).toBe('jos\u00e9@example.com');
  });
});

describe('INVISIBLE_CHARACTERS', () => {
  it('finds zero-width and control characters, not letters', () => {
    for (const text of ['dan\u200b@x.com', 'dan\u200d@x.com', 'dan\ufeff@x.com', 'dan\u0007@x.com']) {
      expect(INVISIBLE_CHARACTERS.test(text), JSON.stringify(text)).toBe(true);
    }
    expect(INVISIBLE_CHARACTERS.test('jos\u00e9@b\u00fccher.example')).toBe(false);
  });
});
