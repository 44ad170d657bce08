import { describe, expect, it } from 'vitest';
import { clientAddress } from './client-address.js';

describe('clientAddress', () => {
  it('counts an address with a port as the address', () => {
    expect(clientAddress('203.0.113.7:51234')).toBe('203.0.113.7');
    expect(clientAddress('[2001:db8:1:2::7]:443')).toBe('2001:db8:1:2::/64');
    expect(clientAddress('[::ffff:203.0.113.7]:80')).toBe('203.0.113.7');
  });

  it('counts addresses without a port as @nestjs/throttler does', () => {
    expect(clientAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddress('2001:db8:1:2::7')).toBe('2001:db8:1:2::/64');
    expect(clientAddress('[2001:db8:1:2::7]')).toBe('2001:db8:1:2::/64');
    expect(clientAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts every client whose address was never read under one key, instead of throwing', () => {
    expect(clientAddress(undefined)).toBe('unknown');
  });

  it('leaves what is no address as it is', () => {
    expect(clientAddress('unknown')).toBe('unknown');
    expect(clientAddress('[not-an-address]:443')).toBe('[not-an-address]:443');
    expect(clientAddress('999.1.1.1:80')).toBe('999.1.1.1:80');
  });

  it('counts a long value that is no address by its hash, so its rate-limit keys stay small', () => {
    const junk = 'x'.repeat(6_000);
    expect(clientAddress(junk)).toMatch(/^hashed:[0-9a-f]{64}$/);
    expect(clientAddress(junk)).toBe(clientAddress(junk));
    expect(clientAddress(junk)).not.toBe(clientAddress(`${junk}y`));
    // Up to the length of the longest address in text, kept as it is.
    expect(clientAddress('a'.repeat(64))).toBe('a'.repeat(64));
    expect(clientAddress('a'.repeat(65))).toMatch(/^hashed:/);
  });
});
