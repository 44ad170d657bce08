import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { PROBE_PATHS } from '../health/probe-paths.js';
import { loggableUrl } from '../logging/loggable-url.js';
import { failureOf } from './request-failure.js';

/**
 * Probes run every few seconds: a healthy one is debug, a failing one (readiness 503 during an outage
 * or a drain) is a warning, since the outage itself is logged where it happens.
 */
function requestLogLevel(status: number, isProbe: boolean): 'debug' | 'info' | 'warn' | 'error' {
  if (isProbe) return status < 400 ? 'debug' : 'warn';
  if (status >= 500) return 'error';
  return status >= 400 ? 'warn' : 'info';
}

/**
 * The one log line of a request: `request completed` once its reply is sent, or, given the status it was left with
 * (onAbandonedRequest), `request abandoned` when its client left first, with the time until then.
 */
export function logRequestLine(
  logger: FastifyBaseLogger,
  request: FastifyRequest,
  reply: FastifyReply,
  abandonedWith?: number,
): void {
  const status = abandonedWith ?? reply.statusCode;
  const route = request.routeOptions.url;
  logger[requestLogLevel(status, PROBE_PATHS.has(route ?? ''))](
    {
      reqId: request.id,
      method: request.method,
      // Without what a client wrongly put in the URL: a token, a password, an email.
      url: loggableUrl(request.url),
      // The route pattern (/v1/profiles/:id) groups requests without per-id cardinality.
      route,
      status,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
      // On a 5xx answer: the exception's class, and a database failure's message (the server, the reason).
      error: failureOf(request),
    },
    abandonedWith === undefined ? 'request completed' : 'request abandoned',
  );
}
