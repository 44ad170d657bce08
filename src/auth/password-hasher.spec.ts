import argon2 from 'argon2';
import { Registry } from 'prom-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { PasswordHasher } from './password-hasher.js';
import { PasswordHashingAdmission, PasswordHashingBusyException } from './password-hashing-admission.js';

// Real argon2id (CPU only): what is under test is which texts its hashes accept, and that each waits for the bound.
const COMPOSED = 'Cr\u00e8me br\u00fbl\u00e9e 2026';
const DECOMPOSED = 'Cre\u0300me bru\u0302le\u0301e 2026';
const FULL_WIDTH = 'Cr\u00e8me br\u00fbl\u00e9e \uff12\uff10\uff12\uff16';

function hasherWithin(env: Record<string, string> = {}) {
  const registry = new Registry();
  const hasher = new PasswordHasher(new PasswordHashingAdmission(loadConfig(env), registry));
  const gauge = async (name: string) => (await registry.getSingleMetric(name)!.get()).values;
  return { hasher, gauge };
}

describe('PasswordHasher', () => {
  const { hasher } = hasherWithin();
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

  it('takes the other form of the accents for a hash made before normalisation, as it does for a new one', async () => {
    // Registered decomposed from one device, typed composed on another (and the other way round).
    const decomposedLegacy = await argon2.hash(DECOMPOSED, { type: argon2.argon2id });
    expect(await hasher.verify(decomposedLegacy, COMPOSED)).toBe(true);
    const composedLegacy = await argon2.hash(COMPOSED, { type: argon2.argon2id });
    expect(await hasher.verify(composedLegacy, DECOMPOSED)).toBe(true);
  });

  it('refuses another password, and any for an unknown account', async () => {
    expect(await hasher.verify(hash, 'Creme brulee 2026')).toBe(false);
    expect(await hasher.verify(undefined, COMPOSED)).toBe(false);
  });

  it('refuses every password for a hash argon2 cannot read (blanked by hand) rather than throwing', async () => {
    const cutShort = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$';
    for (const stored of ['', 'locked', '!', '$argon2id$v=19$garbage', cutShort, '5e884898da28047151d0e56f8dc62927']) {
      expect(await hasher.verify(stored, COMPOSED)).toBe(false);
    }
  });

  it('hashes and checks, the decoy check for an unknown email included, only within the bound', async () => {
    // One at a time, nobody waiting: while one hash runs, every other call is refused.
    const bounded = hasherWithin({ PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE_LIMIT: '0' });
    const running = bounded.hasher.hash(COMPOSED);
    expect(await bounded.gauge('password_hashing_in_flight')).toMatchObject([{ value: 1 }]);

    await expect(bounded.hasher.hash(COMPOSED)).rejects.toBeInstanceOf(PasswordHashingBusyException);
    await expect(bounded.hasher.verify(hash, COMPOSED)).rejects.toBeInstanceOf(PasswordHashingBusyException);
    await expect(bounded.hasher.verify(undefined, COMPOSED)).rejects.toThrow(/Too many password checks at once/);
    expect(await bounded.gauge('password_hashing_refused_total')).toContainEqual(
      expect.objectContaining({ labels: { reason: 'queue_full' }, value: 3 }),
    );

    await running;
    expect(await bounded.gauge('password_hashing_in_flight')).toMatchObject([{ value: 0 }]);
    expect(await bounded.hasher.verify(undefined, COMPOSED)).toBe(false);
  });
});
