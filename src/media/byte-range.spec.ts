import { parseRange, rangeStillApplies } from './byte-range.js';

describe('parseRange', () => {
  it('reads the three forms of one byte range', () => {
    expect(parseRange('bytes=0-0', 100)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=10-', 100)).toEqual({ start: 10, end: 99 });
    expect(parseRange('bytes=-1', 100)).toEqual({ start: 99, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=90-200', 100)).toEqual({ start: 90, end: 99 });
  });

  it('takes the unit in any case, as range units are compared (RFC 9110 §14.1)', () => {
    expect(parseRange('Bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('BYTES=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('BYTES=100-', 100)).toBe('unsatisfiable');
  });

  it('is unsatisfiable past the end, and ignored when absent, malformed or multiple', () => {
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange('items=0-1', 100)).toBeUndefined();
    expect(parseRange('bytes=5-2', 100)).toBeUndefined();
  });
});

describe('rangeStillApplies (If-Range)', () => {
  const etag = '"abc"';
  it('holds without If-Range, and for this strong entity tag', () => {
    expect(rangeStillApplies(undefined, etag)).toBe(true);
    expect(rangeStillApplies(' "abc"', etag)).toBe(true);
  });

  it('fails for another tag, a weak tag, a date (not strong enough here), or the header twice', () => {
    expect(rangeStillApplies('"other"', etag)).toBe(false);
    expect(rangeStillApplies('W/"abc"', etag)).toBe(false);
    expect(rangeStillApplies('Wed, 02 Dec 2026 10:00:00 GMT', etag)).toBe(false);
    expect(rangeStillApplies(['"abc"', '"abc"'], etag)).toBe(false);
  });
});
