import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';

/** The status of a request whose client left before its answer (nginx's "client closed request"): none was sent. */
export const CLIENT_CLOSED_REQUEST = 499;

/** Connections on which Node's HTTP server answered itself (clientErrorHandler), with the status it wrote. */
const answeredByServer = new WeakMap<Socket, number>();

/**
 * Notes that Node's HTTP server wrote `status` on `socket` before closing it: a request whose body was still arriving
 * there was answered so (a 408 once REQUEST_TIMEOUT_MS + HANDLER_TIMEOUT_MS had passed), not left by its client.
 */
export function noteAnsweredByServer(socket: Socket, status: number): void {
  answeredByServer.set(socket, status);
}

/** The id of the request whose body is arriving on each connection: Node's own answer to it must carry that id. */
const readingBody = new WeakMap<Socket, string>();

/** The id of the request whose body Node was reading on `socket`, if any (clientErrorHandler answers it). */
export function requestReadOn(socket: Socket): string | undefined {
  return readingBody.get(socket);
}

type AbandonedListener = (request: FastifyRequest, reply: FastifyReply, status: number) => void;
/** Per Fastify instance (tests run several apps in one process): what must see requests their clients left. */
const abandonedListeners = new WeakMap<FastifyInstance, AbandonedListener[]>();

/**
 * Calls `listener` for each request whose client left before its reply finished (its own timeout, a user giving up on
 * a hanging read), with 499, or with the status of an answer already begun (a download cut short). Fastify runs
 * onResponse only for a reply that finished, so these were in no request metric and had no log line: the slowest
 * requests were the ones missing. Node's response emits 'close' once either way; one listener per request serves
 * every subscriber (the request log and the HTTP metrics).
 */
export function onAbandonedRequest(fastify: FastifyInstance, listener: AbandonedListener): void {
  const listeners = abandonedListeners.get(fastify);
  if (listeners) {
    listeners.push(listener);
    return;
  }
  const all = [listener];
  abandonedListeners.set(fastify, all);
  // A request injected into the server (a batch item) has a response that closes unfinished once answered: it was
  // logged a second time as abandoned (until 2026-12-07). Its onResponse has run by then.
  const answered = new WeakSet<FastifyRequest>();
  fastify.addHook('onResponse', (request, _reply, done) => {
    answered.add(request);
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    const { socket } = request.raw;
    if (!request.raw.complete) {
      readingBody.set(socket, request.id);
      const read = () => {
        if (readingBody.get(socket) === request.id) readingBody.delete(socket);
      };
      request.raw.once('end', read);
      reply.raw.once('close', read);
    }
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished || answered.has(request)) return;
      // Begun on the wire: a response queued behind a pipelined one has its head written but was never given the socket.
      const begun = reply.raw.headersSent && reply.raw.socket ? reply.statusCode : CLIENT_CLOSED_REQUEST;
      // Node's own answer goes to the request whose body it was reading: it was cut off, not left by its client.
      const cutOff = request.raw.complete ? undefined : answeredByServer.get(request.raw.socket);
      const status = cutOff ?? begun;
      for (const notify of all) notify(request, reply, status);
    });
    done();
  });
}
