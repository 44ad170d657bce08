import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  genericProblem,
  PROBLEM_CONTENT_TYPE,
  statusTitle,
  type ProblemDetails,
} from '../common/problem/problem-details.js';
import { loggableUrl } from '../logging/loggable-url.js';
import { noteAnsweredByServer, requestReadOn } from './abandoned-requests.js';
import { assignRequestId, REQUEST_ID_HEADER } from './request-id.js';
import { logRequestLine } from './request-line.js';

/** The log message of requests Node's HTTP server answers before Fastify sees them: no route. */
const REFUSED_BY_SERVER = 'request refused by the HTTP server';

type RefusedListener = (request: FastifyRequest, reply: FastifyReply) => void;
/** Per Fastify instance (tests run several apps in one process): what else must see requests refused before routing. */
const refusedListeners = new WeakMap<FastifyInstance, RefusedListener[]>();

/**
 * Calls `listener` once each request Fastify refuses before routing is answered. Fastify runs no hooks for those
 * (no route, so no onResponse), so what must see every reply (the request metrics) registers here as well.
 */
export function onRefusedBeforeRouting(fastify: FastifyInstance, listener: RefusedListener): void {
  refusedListeners.set(fastify, [...(refusedListeners.get(fastify) ?? []), listener]);
}

/**
 * Requests Fastify refuses before routing (a URL with broken percent-encoding, a path segment over maxParamLength):
 * a problem like every other error, and a request line and a count in the request metrics like every other request
 * (until 2026-12-04 they left neither). Fastify would answer with its own JSON, and Nest's filter never sees them.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode ?? 400;
  const detail =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'A path segment is too long'
      : 'The URL is not valid (check its percent-encoding)';
  // Sent outside any route, so without the hooks that add the request id to other replies and log the request.
  void reply
    .status(status)
    .header(REQUEST_ID_HEADER, request.id)
    .header('content-type', PROBLEM_CONTENT_TYPE)
    .send(genericProblem(request, status, detail));
  logRequestLine(request.server.log, request, reply);
  for (const listener of refusedListeners.get(request.server) ?? []) listener(request, reply);
}

/**
 * The parser errors answered with something more precise than a 400. A method the parser does not know (`FOO /`) is
 * a 501 (RFC 9110, section 15.6.2: the server does not implement it), as it was a bare 400 until 2026-12-06; a method
 * it knows but no route takes (`PROPFIND`) reaches the router and gets a 404 or 405 as any other.
 */
const PARSER_REFUSALS: Partial<Record<string, [number, string]>> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request took too long to arrive'],
  HPE_HEADER_OVERFLOW: [431, 'The request headers are too large'],
  HPE_INVALID_METHOD: [501, 'The request method is not one this server implements'],
};

/**
 * Requests Node's HTTP parser refuses (headers too large, a malformed request line or header, a body whose length
 * does not add up): the same statuses as Fastify's own handler, as a problem. A request whose body was arriving keeps
 * its id; otherwise there is no request to take an id or a URL from, so the answer gets a new id (in x-request-id, the
 * problem and the log line, as every other answer does, so a client's report can be found in the log) and no
 * `instance`. The connection is closed after the answer, since the rest of the stream cannot be trusted. Each gets a
 * log line with its status and the parser's error code (until 2026-12-04 there was none), so a flood of them shows in
 * the log as other refused requests do; no address, as request lines carry none. Fastify binds `this` to its instance.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] = PARSER_REFUSALS[error.code ?? ''] ?? [400, 'The request is not valid HTTP'];
  // A request whose body was arriving has its id (the caller's, as Fastify took it); else there was none.
  const reading = requestReadOn(socket);
  // Its client ended the connection part-way through the body (the parser's error at the end of the stream): nothing
  // was refused, the client left, and that request's own line says so (`request abandoned`, 499). Until 2026-12-07 it
  // also had this 400 line, and the answer went to a client that had gone: two lines for each upload a phone dropped.
  if (reading !== undefined && socket.readableEnded) {
    socket.destroy();
    return;
  }
  const requestId = reading ?? randomUUID();
  if (socket.writable) {
    socket.write(closingAnswer(status, { type: 'about:blank', title: statusTitle(status), status, detail, requestId }));
    // A request Fastify was reading (its body late, or malformed) is counted with this status.
    if (!socket.readableEnded) noteAnsweredByServer(socket, status);
  }
  this.log.warn({ reqId: requestId, status, code: error.code }, REFUSED_BY_SERVER);
  socket.destroy(error);
}

/**
 * A CONNECT request (asking a proxy for a tunnel): Node hands it to `connect` listeners only, and without one closes
 * the connection with no answer and no trace, as it did until 2026-12-05. This server is no proxy: a 400 problem, a
 * log line, and the connection closed. Bind `this` to the Fastify instance.
 */
export function connectRefused(this: FastifyInstance, request: IncomingMessage, socket: Duplex): void {
  const problem = nodeProblem(request, 400, 'CONNECT is not supported: this server is not a proxy');
  this.log.warn(
    { reqId: problem.requestId, method: request.method, url: loggableUrl(request.url ?? ''), status: 400 },
    REFUSED_BY_SERVER,
  );
  socket.end(closingAnswer(400, problem));
}

/**
 * An HTTP/1.1 request without a Host header gets a 400 (RFC 9112, section 3.2). Node would answer it itself with an
 * empty 400, unlogged and uncounted; it lets it through instead (`requireHostHeader: false`, fastify-options.ts), and
 * this hook answers it as Fastify does any other bad request: a problem, a request line, the request metrics. An
 * HTTP/1.0 request may leave Host out.
 */
export function refuseMissingHost(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (request.headers.host !== undefined || request.raw.httpVersion !== '1.1') return done();
    void reply
      .status(400)
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .send(genericProblem(request, 400, 'An HTTP/1.1 request needs a Host header'));
  });
}

/**
 * A request expecting anything but `100-continue`, which Node answers itself with an empty 417 (the `checkExpectation`
 * event replaces that answer). The request is never read, so the connection is closed after the answer. Bind `this`
 * to the Fastify instance, whose logger writes its line.
 */
export function expectationFailed(this: FastifyInstance, request: IncomingMessage, response: ServerResponse): void {
  const problem = nodeProblem(request, 417, 'Only "Expect: 100-continue" is supported');
  this.log.warn(
    { reqId: problem.requestId, method: request.method, url: loggableUrl(request.url ?? ''), status: 417 },
    REFUSED_BY_SERVER,
  );
  const body = JSON.stringify(problem);
  response
    .writeHead(417, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
      [REQUEST_ID_HEADER]: problem.requestId,
      connection: 'close',
    })
    .end(body);
}

/** A problem about a request Node answers itself: its id is the caller's x-request-id or a new one, as Fastify's. */
function nodeProblem(request: IncomingMessage, status: number, detail: string): ProblemDetails {
  return genericProblem({ url: request.url ?? '', id: assignRequestId(request) }, status, detail);
}

/** A whole HTTP/1.1 answer carrying `problem`, written below Node's HTTP server, after which the connection closes. */
function closingAnswer(
  status: number,
  problem: Pick<ProblemDetails, 'type' | 'title' | 'status' | 'detail' | 'requestId' | 'instance'>,
): string {
  const body = JSON.stringify(problem);
  return (
    `HTTP/1.1 ${status} ${statusTitle(status)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${REQUEST_ID_HEADER}: ${problem.requestId}\r\n` +
    `Connection: close\r\n\r\n${body}`
  );
}
