import { describe, expect, it } from 'vitest';
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

  it('writes an internationalised domain in ASCII', () => {
    expect(normaliseEmail('bob@B\u00fccher.example')).toBe('bob@xn--bcher-kva.example');
    expect(normaliseEmail('bob@xn--bcher-kva.example')).toBe('bob@xn--bcher-kva.example');
  });

  it('leaves text without a valid domain for the validator to refuse', () => {
    expect(normaliseEmail('not an email')).toBe('not an email');
    expect(normaliseEmail('a@exa mple.com')).toBe('a@exa mple.com');
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
