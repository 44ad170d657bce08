import { Logger, RequestTimeoutException, ServiceUnavailableException } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { UNAVAILABLE_RETRY_AFTER_S } from '../common/problem/problem-details.js';
import type { AppConfig } from '../config/app-config.js';
import { mergeRouteConfig } from './route-config.js';
import { closeWithAnswer } from './unread-body.js';

const TIMER = Symbol('deadline timer');
const DEADLINE = Symbol('deadline');
const log = new Logger('Shutdown');

declare module 'fastify' {
  interface FastifyContextConfig {
    fileUpload?: boolean;
  }
  interface FastifyRequest {
    [TIMER]: NodeJS.Timeout | null;
    [DEADLINE]: number;
  }
}

/** Its own class, so that `http_errors_total{class="DeadlineExceededException"}` counts the requests it cut short. */
export class DeadlineExceededException extends ServiceUnavailableException {}

/** The deadline came while the body was still arriving (`http_errors_total{class="BodyTimeoutException"}`). */
export class BodyTimeoutException extends RequestTimeoutException {}

/**
 * Marks a route whose handler reads an uploaded file as it arrives. Its deadline adds REQUEST_TIMEOUT_MS to
 * HANDLER_TIMEOUT_MS: the time Node gives a client to send a whole request (fastify-options.ts).
 */
export const FileUpload = (): MethodDecorator => mergeRouteConfig({ fileUpload: true });

/**
 * A request must have its answer within HANDLER_TIMEOUT_MS: a database that hangs (no error, no answer) would
 * otherwise hold it for MONGODB_SOCKET_TIMEOUT_MS, and requests queued for a connection longer. Past the deadline the
 * client gets a 503 problem, or a 408 if its body has not all arrived; the handler's own work runs on and its late
 * answer is dropped. A streamed answer (a
 * download) then has MEDIA_DOWNLOAD_TIMEOUT_MS to be sent before its connection is closed. Fastify's `handlerTimeout`
 * would do the first part but, in 5.12, stops its timer once a request body has been read (decision 0021).
 *
 * When the server starts closing (after the shutdown's drain), a download still streaming gets HANDLER_TIMEOUT_MS
 * more, as long as any other request may still take, and is then cut: its client resumes it with a Range request to
 * another instance. Until 2026-12-04 a phone on a weak network held the close up to MEDIA_DOWNLOAD_TIMEOUT_MS (10 min),
 * so SHUTDOWN_GRACE_MS ended every such shutdown with exit 1 and skipped the close steps.
 *
 * Register it before any other onSend hook: from its onSend on, the answer exists, and a timer that fired while
 * compression ran would replace a finished answer with a 503.
 */
export function registerRequestDeadlines(fastify: FastifyInstance, { http, media }: AppConfig): void {
  const uploadTimeoutMs = http.requestTimeoutMs + http.handlerTimeoutMs;
  const streaming = new Set<FastifyReply>();
  /** When the server started closing, downloads are cut HANDLER_TIMEOUT_MS later: null until then. */
  let cutAt: number | null = null;
  fastify.addHook('preClose', (done) => {
    cutAt = Date.now() + http.handlerTimeoutMs;
    if (streaming.size) log.warn(`${streaming.size} downloads still streaming: cut in ${http.handlerTimeoutMs} ms`);
    for (const reply of streaming) {
      clearTimeout(reply.request[TIMER] ?? undefined);
      reply.request[TIMER] = setTimeout(cutDownload, http.handlerTimeoutMs, reply);
    }
    done();
  });
  fastify.decorateRequest(TIMER, null);
  fastify.decorateRequest(DEADLINE, 0);
  fastify.addHook('onRequest', (request, reply, done) => {
    const timeoutMs = request.routeOptions.config.fileUpload ? uploadTimeoutMs : http.handlerTimeoutMs;
    request[TIMER] = setTimeout(answerLate, timeoutMs, reply, timeoutMs);
    request[DEADLINE] = Date.now() + timeoutMs;
    // After the last byte, or when the client goes away first, which onResponse never hears of.
    reply.raw.once('close', () => {
      clearTimeout(request[TIMER] ?? undefined);
      streaming.delete(reply);
    });
    done();
  });
  fastify.addHook('onSend', (request, reply, payload, done) => {
    clearTimeout(request[TIMER] ?? undefined);
    // A response queued behind others on a connection the client closed never hears `close` itself.
    const gone = reply.raw.destroyed || request.raw.socket?.destroyed === true;
    if (!isStream(payload) || gone) {
      request[TIMER] = null;
      return done(null, payload);
    }
    // One that starts while the server closes (its handler began before) ends with the others, not a full
    // HANDLER_TIMEOUT_MS after its own first byte: that could hold the close for twice as long.
    const streamMs = cutAt === null ? media.downloadTimeoutMs : Math.max(0, cutAt - Date.now());
    request[TIMER] = setTimeout(cutDownload, streamMs, reply);
    streaming.add(reply);
    done(null, payload);
  });
}

/** How long `request` has left before its deadline answers for it, in ms (negative once it has passed). */
export function timeLeftMs(request: FastifyRequest): number {
  return request[DEADLINE] - Date.now();
}

function answerLate(reply: FastifyReply, timeoutMs: number): void {
  if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) return;
  // The answer replaces whatever the handler was preparing; the problem filter it goes through drops that answer's
  // validators and caching (dropSuccessHeaders).
  const body = reply.request.raw;
  closeWithAnswer(reply);
  // Arriving while we read it as it comes, the body is late by the client's fault: a 408. Paused (an upload whose
  // GridFS writes wait on a hung database) or not read yet (an upload waiting for its quota), it waits for us, which is
  // ours: the 503 below.
  if (!body.complete && body.readableFlowing === true) {
    void reply.send(new BodyTimeoutException(`The request body did not arrive within ${timeoutMs} ms`));
    return;
  }
  void reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S));
  void reply.send(new DeadlineExceededException(`No answer within ${timeoutMs} ms; retry in a few seconds`));
}

/**
 * Its status goes out with the first bytes, so a download past its time can only be cut. (One whose first chunk fails
 * to come gets its error answered by Fastify instead: a 503 problem after the chunk's read timeout, gridfs-bucket.ts.)
 */
function cutDownload(reply: FastifyReply): void {
  reply.raw.destroy();
}

export function isStream(payload: unknown): payload is Readable {
  return typeof (payload as Readable | null)?.pipe === 'function';
}
