import type { FastifyReply, FastifyRequest } from 'fastify';
import fresh from 'fresh';
import { httpDate } from './http-date.js';
import { preconditionFailed } from './precondition-failed.js';

/**
 * Whether a GET or HEAD can be answered 304: its If-None-Match (a list of tags or `*`, compared weakly) or, without
 * one, its If-Modified-Since matches the reply's ETag or Last-Modified (RFC 9110 §13.1). `fresh` (jshttp, what
 * Express uses) does the comparison; @fastify/etag's own check knows only a single exact tag.
 */
export function notModified(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const ifNoneMatch = request.headers['if-none-match'];
  const ifModifiedSince = request.headers['if-modified-since'];
  // Most requests are unconditional: this runs on every successful GET, so they leave before any work.
  if (ifNoneMatch === undefined && ifModifiedSince === undefined) return false;
  // Only the conditional headers: `fresh` also refuses any request with Cache-Control: no-cache, which fetch() adds to
  // every request that sets If-None-Match itself. That rule is for caches; an origin validating is what the client
  // asked for, so a 304 is the right answer to it.
  // A date that is no HTTP-date counts as absent, and the one that is goes in the form Date.parse reads right.
  const since = httpDate(ifModifiedSince);
  const conditions = {
    'if-none-match': ifNoneMatch,
    'if-modified-since': since === undefined ? undefined : new Date(since).toUTCString(),
  };
  return fresh(conditions, { etag: reply.getHeader('etag'), 'last-modified': reply.getHeader('last-modified') });
}

/**
 * Whether a successful GET or HEAD must be answered 412 instead (RFC 9110 §13.2.2, checked before the 304): its
 * If-Match or If-Unmodified-Since does not hold for the reply. JSON replies carry weak ETags, so only `If-Match: *`
 * holds for them: a client that sends one to make sure it reads the version it holds must not get another one. A route
 * that answered the conditions itself (a media download) passes here as it passed there.
 */
export function readPreconditionFailed(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const { headers } = request;
  if (headers['if-match'] === undefined && headers['if-unmodified-since'] === undefined) return false;
  const etag = reply.getHeader('etag');
  const lastModified = reply.getHeader('last-modified');
  return preconditionFailed(
    headers,
    etag === undefined ? undefined : String(etag),
    lastModified === undefined ? undefined : new Date(String(lastModified)),
  );
}
