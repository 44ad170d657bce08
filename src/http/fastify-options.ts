import { LogController, type FastifyHttpOptions } from 'fastify';
import type { Server } from 'node:http';
import type { AppConfig } from '../config/app-config.js';
import { clientErrorHandler, frameworkErrors } from './framework-errors.js';
import { assignRequestId } from './request-id.js';

/** Options of the Fastify instance under Nest: limits, timeouts and request ids. */
export function fastifyOptions({ http }: AppConfig): FastifyHttpOptions<Server> {
  // The longest a whole request may take to arrive: an upload's (request-deadlines.ts). Other requests are answered
  // sooner by their own deadline, HANDLER_TIMEOUT_MS from routing; this one is Node's, for a client still sending.
  const wholeRequestMs = http.requestTimeoutMs + http.handlerTimeoutMs;
  return {
    bodyLimit: http.bodyLimitBytes,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    requestTimeout: wholeRequestMs,
    // TRUST_PROXY=true believes the one proxy in front, so the client is the last X-Forwarded-For address, the one that
    // proxy added. Fastify's own `true` takes the first, which the client wrote itself whenever the proxy appends to the
    // header (nginx, cloud load balancers): any client could pick its rate-limit key.
    trustProxy: http.trustProxy === true ? (_address, hop) => hop === 0 : http.trustProxy,
    // One line per request, written by our onResponse hook instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: assignRequestId,
    // Idle keep-alive sockets close on shutdown; busy ones finish their request first.
    forceCloseConnections: 'idle',
    // Our own 503 problem answers requests that arrive while closing (refuse-while-closing.ts).
    return503OnClosing: false,
    frameworkErrors,
    clientErrorHandler,
    http: {
      // A request without Host is answered by refuseMissingHost (framework-errors.ts) as a problem, not by Node.
      requireHostHeader: false,
      // Given at creation too: Node refuses a headersTimeout above the requestTimeout it is created with (300 s).
      requestTimeout: wholeRequestMs,
      headersTimeout: http.requestTimeoutMs,
      // Node checks both timeouts every 30 s by default: a request head sent a byte at a time held its connection for
      // up to twice REQUEST_TIMEOUT_MS, and an upload was cut anywhere between its deadline and 30 s past it (until
      // 2026-12-06). Every second, they hold to within a second.
      connectionsCheckingInterval: 1_000,
    },
  };
}
