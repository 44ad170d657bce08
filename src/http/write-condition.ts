import fresh from 'fresh';
import type { IncomingHttpHeaders } from 'node:http';
import { httpDate } from './http-date.js';
import { preconditionFailed } from './precondition-failed.js';

/**
 * What the preconditions of a write to a resource with weak ETags only ask (RFC 9110 §13.1): `never`, a condition
 * that cannot hold, the write answers 412 (after its 404 and 403, §13.2.1); `unmodifiedBefore`, the write applies only
 * while the resource was last changed before that instant; undefined, no condition.
 * - If-Match compares strongly, so a weak tag never matches and only `*` (any current representation) holds.
 * - If-None-Match `*` asks that there be none: a resource this write changes exists. Its other form, a list of tags,
 *   is compared weakly with a tag of the whole body that a write cannot cheaply compute, and is not evaluated.
 * - If-Unmodified-Since, without If-Match, holds while the last change (to the second, as HTTP-dates go) is not
 *   after it; a value that is no HTTP-date is ignored.
 */
export type WriteCondition = 'never' | { unmodifiedBefore: Date } | undefined;

export function writeCondition(headers: IncomingHttpHeaders): WriteCondition {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined && !ifMatch.split(',').some((tag) => tag.trim() === '*')) return 'never';
  if (headers['if-none-match']?.trim() === '*') return 'never';
  if (ifMatch !== undefined) return undefined;
  const since = httpDate(headers['if-unmodified-since']);
  return since === undefined ? undefined : { unmodifiedBefore: new Date(since + 1_000) };
}

/**
 * Whether a write to a resource with a strong ETag (`etag`) must be refused with 412 (RFC 9110 §13.2.2): its If-Match
 * or If-Unmodified-Since fails as for a read, or its If-None-Match is `*` or lists that tag (compared weakly).
 */
export function strongWritePreconditionFailed(headers: IncomingHttpHeaders, etag: string, lastModified: Date): boolean {
  if (preconditionFailed(headers, etag, lastModified)) return true;
  const ifNoneMatch = headers['if-none-match'];
  // The weak comparison a 304 makes (not-modified.ts).
  return ifNoneMatch !== undefined && fresh({ 'if-none-match': ifNoneMatch }, { etag });
}
