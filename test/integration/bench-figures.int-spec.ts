import { describe, expect, it } from 'vitest';
import { firstBytesMs } from '../../bench/first-bytes.js';

describe('npm run bench:media figures', () => {
  it('gives the median first-byte time by nearest rank, not the next one up', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(firstBytesMs(hundred)).toEqual({ p50: 50, max: 100 });
    // Of two downloads the p50 is the faster: n / 2 made it the max.
    expect(firstBytesMs([30, 10])).toEqual({ p50: 10, max: 30 });
    expect(firstBytesMs([7])).toEqual({ p50: 7, max: 7 });
  });
});
