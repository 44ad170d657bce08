/** A satisfiable single range, inclusive on both ends. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses one `Range: bytes=…` range against a file of `size` bytes (RFC 9110 §14.1.2): `a-b`, `a-`
 * and the suffix form `-n`. Returns undefined when the header is absent or not one byte range (the
 * whole file is sent, as the RFC allows), and 'unsatisfiable' for a range that starts past the end.
 * The unit is compared without case (§14.1): `BYTES=0-9` is a range, not a header to ignore.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const match = /^bytes=(\d*)-(\d*)$/i.exec(header?.trim() ?? '');
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

/**
 * Whether a `Range` still applies under `If-Range` (RFC 9110 §13.1.5): when there is none, or when it names this
 * representation by its strong entity tag. Otherwise the client holds part of some other representation (the original
 * served while a variant was pending, say), and gets the whole of this one. A date is never taken: a variant can be
 * made within the second its original was uploaded, so a date cannot tell the two apart, and every download carries a
 * strong ETag to use instead.
 */
export function rangeStillApplies(ifRange: string | string[] | undefined, etag: string): boolean {
  if (ifRange === undefined) return true;
  return typeof ifRange === 'string' && ifRange.trim() === etag;
}
