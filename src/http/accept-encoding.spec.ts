import { describe, expect, it } from 'vitest';
import { acceptedCoding } from './accept-encoding.js';

describe('acceptedCoding', () => {
  it.each([
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['GZip', 'gzip'],
    ['x-gzip', 'gzip'],
    ['X-GZIP;q=0.5, br;q=0.4', 'gzip'],
    ['gzip;q=0.5, br;q=0.9', 'br'],
    ['br;q=0.1, gzip;q=0.9', 'gzip'],
    ['*', 'br'],
    ['gzip;q=0, *', 'br'],
    ['br;q=0, *', 'gzip'],
    ['gzip;q=0, br;q=0, *', 'identity'],
    ['*;q=0', 'identity'],
    ['identity', 'identity'],
    ['deflate', 'identity'],
    ['', 'identity'],
    ['gzip ; q=0.8 , br ; q=0.7', 'gzip'],
  ])('%j → %s', (header, coding) => {
    expect(acceptedCoding({ 'accept-encoding': header })).toBe(coding);
  });
});
