import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './ports.js';

/**
 * A TCP relay on a free local port to the host and port of `target`. Each connection it accepts gets one of its own to
 * the target; `wire` decides what passes between the two (it adds the `data` listeners). When either side closes, the
 * other is closed too.
 */
export function tcpRelay(target: URL, wire: (client: Socket, upstream: Socket) => void) {
  return listenLocally((sockets) =>
    createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.push(client, upstream);
      wire(client, upstream);
      for (const [socket, other] of [
        [client, upstream],
        [upstream, client],
      ]) {
        socket.on('error', () => undefined).on('close', () => other.destroy());
      }
    }),
  );
}

/** A server on a free local port that accepts connections and never answers: a peer that is up but stalled. */
export async function silentServer() {
  let server!: Server;
  const listening = await listenLocally((sockets) => (server = createServer((socket) => sockets.push(socket))));
  return {
    ...listening,
    /** Settles when the first connection arrives. */
    connected: new Promise<void>((resolve) => server.once('connection', () => resolve())),
  };
}

/** `make`'s server listening on a free port of 127.0.0.1; close() destroys the sockets it recorded, then closes it. */
async function listenLocally(make: (sockets: Socket[]) => Server) {
  const sockets: Socket[] = [];
  const server = make(sockets);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    close: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
