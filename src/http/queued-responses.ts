import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Per connection, the responses still waiting for their turn, in the order their requests came. */
const queuedOn = new WeakMap<Socket, Set<ServerResponse>>();

/**
 * Emits 'close' on the response of a pipelined request whose connection closed before that response's turn came. Node
 * parses a request sent behind another at once, but queues its response and gives it the socket only when the one
 * before has ended; a connection closed meanwhile emits 'close' on the response it was writing, never on those queued
 * behind it. Every 'close' listener missed them (the in-flight gauge, the count and log line of abandoned requests,
 * the deadline's timer): until 2026-12-06 each such request stayed in http_requests_in_flight for ever and in no count.
 * One listener per connection, not per queued response: a client pipelining a dozen requests made Node warn of a
 * possible memory leak on stderr, once per connection.
 */
export function closeQueuedResponses(fastify: FastifyInstance): void {
  fastify.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    // A response that has its socket hears the connection close from Node itself.
    if (response.socket) return;
    const socket = request.socket;
    let queued = queuedOn.get(socket);
    if (!queued) {
      const responses = new Set<ServerResponse>();
      queuedOn.set(socket, (queued = responses));
      socket.once('close', () => {
        for (const waiting of responses) waiting.emit('close');
        responses.clear();
      });
    }
    queued.add(response);
    response.once('socket', () => queued.delete(response));
  });
}
