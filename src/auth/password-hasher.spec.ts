import argon2 from 'argon2';
import { beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from './password-hasher.js';

// Real argon2id (CPU only): what is under test is which texts its hashes accept.
const COMPOSED = 'Cr\u00e8me br\u00fbl\u00e9e 2026';
const DECOMPOSED = 'Cre\u0300me bru\u0302le\u0301e 2026';
const FULL_WIDTH = 'Cr\u00e8me br\u00fbl\u00e9e \uff12\uff10\uff12\uff16';

describe('PasswordHasher', () => {
  const hasher = new PasswordHasher();
  let hash: string;

  beforeAll(async () => {
    hash = await hasher.hash(DECOMPOSED);
  });

  it('takes a password typed composed, decomposed or with full-width digits as the same password', async () => {
    expect(await hasher.verify(hash, COMPOSED)).toBe(true);
    expect(await hasher.verify(hash, FULL_WIDTH)).toBe(true);
  });

  it('still verifies a hash made of the text as sent, before passwords were normalised', async () => {
    const legacy = await argon2.hash(DECOMPOSED, { type: argon2.argon2id });
    expect(await hasher.verify(legacy, DECOMPOSED)).toBe(true);
  });

  it('refuses another password, and any for an unknown account', async () => {
    expect(await hasher.verify(hash, 'Creme brulee 2026')).toBe(false);
    expect(await hasher.verify(undefined, COMPOSED)).toBe(false);
  });
});
