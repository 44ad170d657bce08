import { connect, createServer, type Socket } from 'node:net';
import { freePort } from './ports.js';

/**
 * A TCP relay on a free local port to the host and port of `target`. Each connection it accepts gets one of its own to
 * the target; `wire` decides what passes between the two (it adds the `data` listeners). When either side closes, the
 * other is closed too.
 */
export async function tcpRelay(target: URL, wire: (client: Socket, upstream: Socket) => void) {
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.push(client, upstream);
    wire(client, upstream);
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ]) {
      socket.on('error', () => undefined).on('close', () => other.destroy());
    }
  });
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

/** A server on a free local port that accepts connections and never answers: a peer that is up but stalled. */
export async function silentServer() {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    /** Settles when the first connection arrives. */
    connected: new Promise<void>((resolve) => server.once('connection', () => resolve())),
    close: async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
