import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** The status of a request whose client left before its answer (nginx's "client closed request"): none was sent. */
export const CLIENT_CLOSED_REQUEST = 499;

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
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return;
      const status = reply.raw.headersSent ? reply.statusCode : CLIENT_CLOSED_REQUEST;
      for (const notify of all) notify(request, reply, status);
    });
    done();
  });
}
