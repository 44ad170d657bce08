import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AppConfig } from '../config/app-config.js';

/**
 * Ends, once the server starts closing, the connections on which no request is in progress and that Node does not
 * count as idle: one the client opened and sent nothing on yet (a browser's preconnect, a proxy's warm pool, a client
 * whose FIN was lost), or one still sending the head of its request. Node's closeIdleConnections passes over both (it
 * counts them as requests whose headers are due), and server.close() stops the header timeout that would have ended
 * them, so close() waited for the client: for ever in process, and on SIGTERM until SHUTDOWN_GRACE_MS forced exit 1,
 * skipping the close steps (until 2026-12-06). A connection that has sent nothing is closed at once, as an idle
 * keep-alive one is; one part-way through its request head gets HANDLER_TIMEOUT_MS, as a download does, and is then cut
 * unless its request has arrived (answered 503 by refuse-while-closing.ts, and closed). Requests in progress are bounded
 * by their own deadlines (request-deadlines.ts). The same map closes the responses of pipelined requests whose
 * connection closed before their turn (below).
 */
export function closeWaitingConnections(fastify: FastifyInstance, { http }: AppConfig): void {
  /**
   * Each open connection with the responses begun on it and not yet written out: a request is in progress there until
   * all have ended. Pipelined requests each have one, and a later one can end before an earlier one (its answer waits
   * in Node's queue), so the last alone is not enough. One still flushing to a slow client after end() counts as
   * waiting, and is cut HANDLER_TIMEOUT_MS on, as a download is.
   */
  const connections = new Map<Socket, ServerResponse[]>();
  const inProgress = (socket: Socket) => connections.get(socket)?.some((response) => !response.writableEnded) === true;
  let closing = false;
  const cutIfWaiting = (socket: Socket): void => {
    if (!inProgress(socket)) socket.destroy();
  };
  const cutLater = (socket: Socket): void => {
    const timer = setTimeout(cutIfWaiting, http.handlerTimeoutMs, socket);
    socket.once('close', () => clearTimeout(timer));
  };
  fastify.server.on('connection', (socket: Socket) => {
    connections.set(socket, []);
    socket.once('close', () => {
      // A response pipelined behind another is given the socket only once the one before has ended, and Node emits
      // 'close' on the response it was writing, never on those queued behind it: every 'close' listener (the in-flight
      // gauge, the count and log line of abandoned requests, the deadline's timer) missed them, and until 2026-12-06
      // each such request stayed in http_requests_in_flight for ever and in no count.
      for (const response of connections.get(socket) ?? []) {
        if (!response.socket && !response.writableFinished) response.emit('close');
      }
      connections.delete(socket);
    });
    // Accepted while the preClose hooks ran, just before the listener closed.
    if (closing) cutLater(socket);
  });
  // No listener and, on a keep-alive connection, no allocation per request: this runs on every request.
  fastify.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const begun = connections.get(request.socket);
    if (!begun) return;
    // Forgotten once written out, oldest first as Node writes them. Ended is not enough: an answer ended behind one
    // still flushing to a client that does not read waits in Node's queue, and forgotten (until 2026-12-06) got no
    // 'close' when that client left, so stayed in http_requests_in_flight for ever.
    while (begun.length > 0 && begun[0].writableFinished) begun.shift();
    begun.push(response);
  });
  fastify.addHook('preClose', (done) => {
    closing = true;
    for (const socket of connections.keys()) {
      if (inProgress(socket)) continue;
      if (socket.bytesRead === 0) socket.destroy();
      else cutLater(socket);
    }
    done();
  });
}
