import { describe, expect, it } from 'vitest';
import { jitteredTtlMs, shouldRefreshEarly } from './cache-entry.js';
import { cacheKey } from './cache.decorators.js';

describe('XFetch early refresh', () => {
  const entry = { v: 1, exp: 10_000, d: 100 };

  it('never refreshes far from expiry, always at or past it', () => {
    expect(shouldRefreshEarly(entry, 1_000, 1, () => 0.5)).toBe(false);
    expect(shouldRefreshEarly(entry, 10_000, 1, () => 0.999)).toBe(true);
  });

  it('refreshes earlier for expensive values and with unlucky draws', () => {
    // 100 ms before expiry: a cheap value (1 ms) waits, an expensive one (1 s) may go.
    expect(shouldRefreshEarly({ ...entry, d: 1 }, 9_900, 1, () => 0.1)).toBe(false);
    expect(shouldRefreshEarly({ ...entry, d: 1_000 }, 9_900, 1, () => 0.1)).toBe(true);
  });
});

describe('TTL jitter', () => {
  it('adds at most the configured fraction', () => {
    expect(jitteredTtlMs(60, 0.1, () => 0)).toBe(60_000);
    expect(jitteredTtlMs(60, 0.1, () => 0.5)).toBe(63_000);
    expect(jitteredTtlMs(60, 0.1, () => 0.999_999)).toBe(66_000);
    expect(jitteredTtlMs(60, 0, () => 0.7)).toBe(60_000);
  });

  it('gives at least 1 ms, which Redis accepts as an expiry, for a TTL of 0 s, a fraction of a ms or less', () => {
    for (const ttlS of [0, 0.000_4, -1]) expect(jitteredTtlMs(ttlS, 0.1, () => 0.5)).toBe(1);
  });
});

describe('cacheKey', () => {
  it('keeps short plain keys readable', () => {
    expect(cacheKey('665f1c2e8a1b2c3d4e5f6a7b')).toBe('665f1c2e8a1b2c3d4e5f6a7b');
  });

  it('hashes user input to a bounded, stable key', () => {
    const query = { city: 'x'.repeat(10_000), gender: 'woman' };
    const key = cacheKey('search', query);
    expect(key).toMatch(/^[\w-]{43}$/);
    expect(cacheKey('search', { ...query })).toBe(key);
    expect(cacheKey('search', { ...query, gender: 'man' })).not.toBe(key);
    expect(cacheKey('a b\nc')).not.toContain(' ');
  });
});
