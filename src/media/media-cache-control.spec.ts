import { describe, expect, it } from 'vitest';
import { mediaCacheControl } from './media-cache-control.js';

describe('mediaCacheControl', () => {
  it('lets caches keep a stored file, which never changes, for the configured lifetime', () => {
    expect(mediaCacheControl(2_592_000, false)).toBe('public, max-age=2592000, immutable');
  });

  it('keeps the original standing in for a pending variant a minute at most, never immutable', () => {
    expect(mediaCacheControl(2_592_000, true)).toBe('public, max-age=60');
    expect(mediaCacheControl(30, true)).toBe('public, max-age=30');
  });

  it('has browsers revalidate every download when the lifetime is 0 (outside production)', () => {
    expect(mediaCacheControl(0, false)).toBe('public, max-age=0');
    expect(mediaCacheControl(0, true)).toBe('public, max-age=0');
  });
});
