import type { IncomingHttpHeaders } from 'node:http';
import { httpDate } from './http-date.js';

/**
 * Whether a GET or HEAD must be refused with 412 (RFC 9110 §13.2.2, steps 1 and 2): its If-Match does not name the
 * reply's entity tag (compared strongly, so a weak tag, the client's or the reply's, never matches, nor does any
 * when the reply has none; `*` matches any), or, without If-Match, its If-Unmodified-Since is older than the reply's
 * Last-Modified (a value that is no HTTP-date is ignored, and so is any date when the reply has no Last-Modified, as
 * §13.1.4 says). A download resumed with If-Match and Range must get nothing rather than the bytes of another
 * representation (a variant made since) to splice onto what it holds. Evaluated before If-None-Match and
 * If-Modified-Since (steps 3 and 4).
 */
export function preconditionFailed(
  headers: IncomingHttpHeaders,
  etag: string | undefined,
  lastModified: Date | undefined,
): boolean {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    const tags = ifMatch.split(',').map((tag) => tag.trim());
    if (tags.includes('*')) return false;
    return etag === undefined || etag.startsWith('W/') || !tags.includes(etag);
  }
  if (lastModified === undefined) return false;
  const since = httpDate(headers['if-unmodified-since']);
  // Last-Modified is sent to the second.
  return since !== undefined && Math.floor(lastModified.getTime() / 1000) * 1000 > since;
}
