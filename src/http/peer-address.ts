import type { Socket } from 'node:net';

/**
 * Reads a connection's peer address as soon as it is accepted, so that Node keeps it for the connection's life. Node
 * asks the OS on first use, and once the client has reset the connection the OS no longer knows it: a client that sent
 * a request and reset at once had no address by the time the request was read (its `ip` undefined), and the rate
 * limiter's per-address tiers threw a TypeError, a 500 in the error log for each such request (until 2026-12-05). A
 * reset before the connection is accepted still leaves it unknown (see clientAddress).
 */
export function keepPeerAddress(socket: Socket): void {
  void socket.remoteAddress;
}
