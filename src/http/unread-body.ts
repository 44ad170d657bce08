import type { FastifyReply } from 'fastify';
import type { IncomingMessage } from 'node:http';

/**
 * For an answer sent before the request's body has all arrived (an error while an upload streams in, an answer at the
 * deadline): the connection closes after it, and the body is ended with it. Kept open, the connection would wait for
 * the rest of a body nobody reads, and Node's own request timeout would later write a second answer on it. And once an
 * answer is out Node no longer ends a request whose connection closes, so a handler still reading the body would wait
 * forever, holding what it had stored.
 */
export function closeWithAnswer(reply: FastifyReply): void {
  const body = reply.request.raw;
  if (!hasBodyStillArriving(body) || reply.raw.headersSent) return;
  void reply.header('connection', 'close');
  reply.raw.once('finish', () => body.destroy());
}

/**
 * A request with a body (Transfer-Encoding, or a Content-Length above 0: RFC 9112 §6.3) that has not all arrived.
 * `complete` alone does not say it: Node sets it once the parser has seen the end of the message, which for a request
 * without a body comes after a handler that answers at once has run, and a connection closed on that alone closed
 * after every such answer. An injected request (a batch item) has no `complete` and no connection to close.
 */
function hasBodyStillArriving(request: IncomingMessage): boolean {
  if (request.complete !== false) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
