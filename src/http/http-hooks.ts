import compress from '@fastify/compress';
import etag from '@fastify/etag';
import type { FastifyInstance, onSendHookHandler, RouteOptions } from 'fastify';
import { hash } from 'node:crypto';
import { constants as zlib } from 'node:zlib';
import { cacheControlFor, ERROR_CACHE_CONTROL, varyFor, withVary } from '../cache/http-cache.js';
import { dropSuccessHeaders, genericProblem, PROBLEM_CONTENT_TYPE } from '../common/problem/problem-details.js';
import type { AppConfig } from '../config/app-config.js';
import type { ReadinessState } from '../lifecycle/readiness-state.js';
import { REQUEST_ID_HEADER } from './request-id.js';
import { acceptedCoding, COMPRESSION_CODINGS } from './accept-encoding.js';
import { notModified, readPreconditionFailed } from './not-modified.js';
import { closeWithAnswer } from './unread-body.js';
import { onAbandonedRequest } from './abandoned-requests.js';
import { logRequestLine } from './request-line.js';
import { leaveUncompressed } from './uncompressed.js';

/**
 * Request-level behaviour that lives in Fastify hooks rather than Nest interceptors (it must see every reply, 404s
 * included).
 */
export async function registerHttpHooks(
  fastify: FastifyInstance,
  config: AppConfig,
  readiness: Pick<ReadinessState, 'isShuttingDown'>,
): Promise<void> {
  // Synchronous hooks, and one onSend for all of our headers: each async Fastify hook costs a promise
  // per request, and the three separate hooks these replace cost ~25 % of a /health/live request.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    // Replies echo what clients sent (a problem's instance and detail, a member's bio): a browser must not sniff one
    // into HTML, nor show a page of this origin (the Swagger UI, which takes a token) inside another site's frame.
    void reply
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('content-security-policy', "frame-ancestors 'none'");
    // Clients that compress end to end themselves (or debug raw bytes) opt out per request; this runs
    // before @fastify/compress's route-level onSend reads the header, which otherwise names the one coding to use.
    if (request.headers['x-no-compression'] !== undefined) request.headers['accept-encoding'] = 'identity';
    else if (request.headers['accept-encoding'] !== undefined) {
      request.headers['accept-encoding'] = acceptedCoding(request.headers);
    }
    const cacheControl = cacheControlFor(request, reply, config);
    if (cacheControl) void reply.header('cache-control', cacheControl);
    // What a cache may keep depends on these; an error it may not keep at all.
    if (cacheControl && reply.statusCode < 400) {
      void reply.header('vary', withVary(reply.getHeader('vary'), varyFor(request)));
    }
    // While draining, ask keep-alive clients to reconnect, which lands them on another instance.
    if (readiness.isShuttingDown) void reply.header('connection', 'close');
    // A body not all read when its answer goes out, such as a GET's, which Fastify never parses. Node discards the rest
    // of a body nobody took, but not of one @fastify/compress piped into its decompressor (Content-Encoding: gzip),
    // which nothing drains then: the rest stayed in the socket, the next request on that keep-alive connection was
    // never read, and close() waited for it. Such a connection closes after the answer.
    closeWithAnswer(reply);
    done(null, payload);
  });

  // Fastify closes idle keep-alive connections once, when close() starts. A connection still busy then
  // (a download streaming out) turns idle a moment later and would hold the shutdown open until
  // KEEP_ALIVE_TIMEOUT_MS, past the grace period; so while closing, each finished response closes
  // whatever has turned idle.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  // Request lines carry only logRequestLine's fields, never headers or bodies, so they skip the root logger's redaction,
  // which was half the cost of writing one (about 4 of 8 µs). The request id is added here instead of through
  // Fastify's per-request child logger.
  const requestLines = fastify.log.child({}, { redact: [] });

  fastify.addHook('onResponse', (request, reply, done) => {
    if (closing) setImmediate(() => fastify.server.closeIdleConnections());
    logRequestLine(requestLines, request, reply);
    done();
  });
  onAbandonedRequest(fastify, (request, reply, status) => logRequestLine(requestLines, request, reply, status));

  // Weak ETags over the uncompressed body (registered before compression); If-None-Match → 304 below.
  // crypto.hash is the one-shot form of createHash().update().digest(): same ETags, a fraction of
  // the cost (hashing was ~6 % of a cached read).
  await fastify.register(etag, {
    weak: true,
    hashFn: (payload) => hash('sha1', payload, 'base64'),
    replyWith304: false,
  });
  // 412s and 304s for successful GETs and HEADs: after the ETag exists, before compression would spend work on the body.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const succeeded = reply.statusCode >= 200 && reply.statusCode < 300;
    if (succeeded && readPreconditionFailed(request, reply)) {
      dropSuccessHeaders(reply);
      void reply.code(412).header('content-type', PROBLEM_CONTENT_TYPE).header('cache-control', ERROR_CACHE_CONTROL);
      done(null, JSON.stringify(genericProblem(request, 412, READ_PRECONDITION_FAILED)));
      return;
    }
    if (succeeded && notModified(request, reply)) {
      void reply.code(304);
      // No body at all, not an empty one: Fastify would send `Content-Length: 0` for '', which a 304 must not carry
      // (RFC 9110 §8.6: only the 200's length), and a cache may copy it onto the response it keeps. Fastify's HEAD
      // handling cannot take a null body (it throws); a HEAD's 304 loses the length it sets in dropLengthOf304 below.
      done(null, request.method === 'HEAD' ? undefined : null);
      return;
    }
    done(null, payload);
  });
  fastify.addHook('onRoute', dropLengthOf304);
  fastify.addHook('onRoute', leaveUncompressed);
  await fastify.register(compress, {
    global: true,
    threshold: config.http.compressionThresholdBytes,
    encodings: [...COMPRESSION_CODINGS],
    // Brotli's default quality 11 costs ~10x the CPU of 4 for a few percent on JSON.
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  });
}

const READ_PRECONDITION_FAILED =
  'If-Match or If-Unmodified-Since does not hold for the current version (JSON answers carry weak ETags, which ' +
  'If-Match never matches: only If-Match: * holds)';

/**
 * Fastify answers HEAD with the GET handler and, in an onSend hook of the HEAD route that runs after every hook added
 * with addHook, sets `Content-Length: 0` when the body is empty, a 304 included (the JSON routes' 304s above and the
 * media download's own). RFC 9110 §8.6 allows a 304 only the length of the 200, so HEAD routes get one more onSend
 * hook, after Fastify's, that takes it off again. GET routes are left as they are.
 */
function dropLengthOf304(route: RouteOptions): void {
  if (route.method !== 'HEAD') return;
  const removeLength: onSendHookHandler = (_request, reply, payload, done) => {
    if (reply.statusCode === 304) reply.removeHeader('content-length');
    done(null, payload);
  };
  route.onSend = [...(route.onSend === undefined ? [] : [route.onSend].flat()), removeLength];
}
