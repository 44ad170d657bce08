import type { FastifyReply } from 'fastify';

/**
 * For an answer sent before the request's body has all arrived (an error while an upload streams in, an answer at the
 * deadline): the connection closes after it, and the body is ended with it. Kept open, the connection would wait for
 * the rest of a body nobody reads, and Node's own request timeout would later write a second answer on it. And once an
 * answer is out Node no longer ends a request whose connection closes, so a handler still reading the body would wait
 * forever, holding what it had stored.
 */
export function closeWithAnswer(reply: FastifyReply): void {
  const body = reply.request.raw;
  if (body.complete || reply.raw.headersSent) return;
  void reply.header('connection', 'close');
  reply.raw.once('finish', () => body.destroy());
}
