import { parseRange, rangeStillApplies } from './byte-range.js';

describe('parseRange', () => {
  it('reads the three forms of one byte range', () => {
    expect(parseRange('bytes=0-0', 100)).toEqual({ start: 0, end: 0 });
    expect(parseRange('bytes=10-', 100)).toEqual({ start: 10, end: 99 });
    expect(parseRange('bytes=-1', 100)).toEqual({ start: 99, end: 99 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=90-200', 100)).toEqual({ start: 90, end: 99 });
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
  const lastModified = 'Wed, 02 Dec 2026 10:00:00 GMT';
  it('holds without If-Range, and for this entity tag or this exact date', () => {
    expect(rangeStillApplies(undefined, etag, lastModified)).toBe(true);
    expect(rangeStillApplies('"abc"', etag, lastModified)).toBe(true);
    expect(rangeStillApplies(lastModified, etag, lastModified)).toBe(true);
  });

  it('fails for another tag, a weak tag, another date or anything else', () => {
    expect(rangeStillApplies('"other"', etag, lastModified)).toBe(false);
    expect(rangeStillApplies('W/"abc"', etag, lastModified)).toBe(false);
    expect(rangeStillApplies('Wed, 02 Dec 2026 09:59:59 GMT', etag, lastModified)).toBe(false);
    expect(rangeStillApplies('yesterday', etag, lastModified)).toBe(false);
  });
});
