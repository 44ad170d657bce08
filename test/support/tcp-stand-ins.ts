import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './ports.js';

/**
 * A TCP relay on a free local port to the host and port of `target` (or of what it returns as each connection arrives).
 * Each connection it accepts gets one of its own to the target; `wire` decides what passes between the two (it adds
 * the `data` listeners). When either side closes, the other is closed too.
 */
export function tcpRelay(target: URL | (() => URL), wire: (client: Socket, upstream: Socket) => void) {
  return listenLocally((sockets) =>
    createServer((client) => {
      const { port, hostname } = typeof target === 'function' ? target() : target;
      const upstream = connect(Number(port), hostname);
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

/**
 * A relay to `target` whose connections so far can be cut off silently (`silenceExisting`): nothing passes on them any
 * more, both ways, and neither end is told, as when the server moved (a failover, a pod on another node) while the
 * packets of the old connection are dropped, or a NAT forgot the connection. Connections made after that pass as usual.
 * `blackHole` silences new connections too until `restore`, as when Redis hangs with its port open or a proxy in front
 * of it lost its backend; those it silenced stay silent after `restore` (their packets lost, as when Redis came back
 * elsewhere behind the same address).
 */
export async function silencingRelay(target: string) {
  const silenced = new Set<Socket>();
  const open: Socket[] = [];
  let holing = false;
  const relay = await tcpRelay(new URL(target), (client, upstream) => {
    open.push(client);
    if (holing) silenced.add(client);
    client.on('data', (chunk: Buffer) => void (silenced.has(client) || upstream.write(chunk)));
    upstream.on('data', (chunk: Buffer) => void (silenced.has(client) || client.write(chunk)));
  });
  const url = new URL(target);
  url.host = `127.0.0.1:${relay.port}`;
  const silenceExisting = () => open.splice(0).forEach((socket) => silenced.add(socket));
  return {
    /** `target` through the relay. */
    url: url.toString(),
    silenceExisting,
    blackHole: () => {
      holing = true;
      silenceExisting();
    },
    restore: () => void (holing = false),
    close: relay.close,
  };
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
