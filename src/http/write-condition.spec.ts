import { describe, expect, it } from 'vitest';
import { strongWritePreconditionFailed, writeCondition } from './write-condition.js';

describe('writeCondition', () => {
  it('asks for nothing without conditional headers, or with If-Match *', () => {
    expect(writeCondition({})).toBeUndefined();
    expect(writeCondition({ 'if-match': '*' })).toBeUndefined();
    expect(writeCondition({ 'if-match': 'W/"a", *' })).toBeUndefined();
  });

  it('cannot hold for a named tag, strong or weak, or for If-None-Match *', () => {
    expect(writeCondition({ 'if-match': 'W/"abc"' })).toBe('never');
    expect(writeCondition({ 'if-match': '"abc"' })).toBe('never');
    expect(writeCondition({ 'if-none-match': '*' })).toBe('never');
    expect(writeCondition({ 'if-match': '*', 'if-none-match': '*' })).toBe('never');
  });

  it('holds while unmodified to the second named by If-Unmodified-Since, which If-Match overrides', () => {
    const since = 'Sat, 05 Dec 2026 10:00:00 GMT';
    expect(writeCondition({ 'if-unmodified-since': since })).toEqual({
      unmodifiedBefore: new Date('2026-12-05T10:00:01.000Z'),
    });
    expect(writeCondition({ 'if-unmodified-since': since, 'if-match': '*' })).toBeUndefined();
    expect(writeCondition({ 'if-unmodified-since': '2026-12-05' })).toBeUndefined();
  });
});

describe('strongWritePreconditionFailed', () => {
  const etag = '"abc"';
  const stored = new Date('2026-12-05T10:00:00.500Z');
  const failed = (headers: Record<string, string>) => strongWritePreconditionFailed(headers, etag, stored);

  it('holds for the current tag or *, a date not before the last change, and none of the headers', () => {
    expect(failed({})).toBe(false);
    expect(failed({ 'if-match': '"x", "abc"' })).toBe(false);
    expect(failed({ 'if-match': '*' })).toBe(false);
    expect(failed({ 'if-unmodified-since': 'Sat, 05 Dec 2026 10:00:00 GMT' })).toBe(false);
    expect(failed({ 'if-none-match': '"x"' })).toBe(false);
  });

  it('fails for another tag, a weak one, an earlier date, or If-None-Match naming the tag (weakly) or *', () => {
    expect(failed({ 'if-match': '"x"' })).toBe(true);
    expect(failed({ 'if-match': 'W/"abc"' })).toBe(true);
    expect(failed({ 'if-unmodified-since': 'Sat, 05 Dec 2026 09:59:59 GMT' })).toBe(true);
    expect(failed({ 'if-none-match': 'W/"abc"' })).toBe(true);
    expect(failed({ 'if-none-match': '"x", "abc"' })).toBe(true);
    expect(failed({ 'if-none-match': '*' })).toBe(true);
  });
});
