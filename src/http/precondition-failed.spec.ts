import { preconditionFailed } from './precondition-failed.js';

describe('preconditionFailed (If-Match, If-Unmodified-Since)', () => {
  const etag = '"abc"';
  const stored = new Date('2026-12-03T10:00:00.750Z');

  it('fails when If-Match names none of the tags strongly, whatever If-Unmodified-Since says', () => {
    expect(preconditionFailed({ 'if-match': '"other"' }, etag, stored)).toBe(true);
    expect(preconditionFailed({ 'if-match': 'W/"abc"' }, etag, stored)).toBe(true);
    expect(
      preconditionFailed(
        { 'if-match': '"other"', 'if-unmodified-since': 'Thu, 03 Dec 2036 10:00:00 GMT' },
        etag,
        stored,
      ),
    ).toBe(true);
    expect(preconditionFailed({ 'if-match': '"other" , "abc"' }, etag, stored)).toBe(false);
    expect(preconditionFailed({ 'if-match': '*' }, etag, stored)).toBe(false);
  });

  it('never matches a weak or missing reply tag with If-Match, except with *', () => {
    expect(preconditionFailed({ 'if-match': 'W/"abc"' }, 'W/"abc"', undefined)).toBe(true);
    expect(preconditionFailed({ 'if-match': '"abc"' }, 'W/"abc"', undefined)).toBe(true);
    expect(preconditionFailed({ 'if-match': '""' }, undefined, undefined)).toBe(true);
    expect(preconditionFailed({ 'if-match': 'W/"abc", *' }, 'W/"abc"', undefined)).toBe(false);
    expect(preconditionFailed({ 'if-match': '*' }, undefined, undefined)).toBe(false);
  });

  it('without If-Match, fails when stored after If-Unmodified-Since, to the second; ignores an invalid date', () => {
    expect(preconditionFailed({ 'if-unmodified-since': 'Thu, 03 Dec 2026 09:59:59 GMT' }, etag, stored)).toBe(true);
    expect(preconditionFailed({ 'if-unmodified-since': 'Thu, 03 Dec 2026 10:00:00 GMT' }, etag, stored)).toBe(false);
    expect(preconditionFailed({ 'if-unmodified-since': 'yesterday' }, etag, stored)).toBe(false);
    // Date.parse reads this as 1 January 2020, before the file was stored.
    expect(preconditionFailed({ 'if-unmodified-since': '2020' }, etag, stored)).toBe(false);
    expect(preconditionFailed({}, etag, stored)).toBe(false);
  });
});
