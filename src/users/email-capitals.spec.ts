import { describe, expect, it } from 'vitest';
import { normaliseEmail } from './email.js';

describe('normaliseEmail of an address typed in capitals', () => {
  // Lower case has no precomposed capital for these: toUpperCase writes the letter and its accent apart, and lowering
  // that after NFKC left them apart, so the address in capitals was stored decomposed, a second account beside the
  // composed one, and EmailFormMigration then rewrote it composed, after which its capitals no longer found it.
  const letters = ['\u01f0', '\u0390', '\u03b0', '\u1e96', '\u1f50', '\u1fb6'];

  it('gives the one form the lower-case address has', () => {
    for (const letter of letters) {
      const email = `a${letter}b@example.com`;
      expect(normaliseEmail(email.toUpperCase()), JSON.stringify(email)).toBe(normaliseEmail(email));
    }
  });

  it('is a form it leaves as it is (the migration rewrites any other)', () => {
    for (const letter of letters) {
      const stored = normaliseEmail(`A${letter.toUpperCase()}B@example.com`);
      expect(normaliseEmail(stored), JSON.stringify(stored)).toBe(stored);
    }
  });
});
