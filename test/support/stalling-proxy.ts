import type { Socket } from 'node:net';
import { tcpRelay } from './tcp-stand-ins.js';

/**
 * A TCP relay to the test MongoDB that, once a client sends a command naming every one of `markers` (a collection's
 * name, a database's prefix), holds every answer of the server until `release()`: a process using it stops in the
 * middle of its work, at that command, for as long as the test needs, with nothing timed. The server itself stays up
 * and answers everyone else.
 */
export async function stallingMongoProxy(mongoUri: string, ...markers: string[]) {
  const needles = markers.map((marker) => Buffer.from(marker));
  const held: { client: Socket; chunk: Buffer }[] = [];
  let state: 'passing' | 'holding' | 'released' = 'passing';
  let onStall = () => {};
  const stalled = new Promise<void>((resolve) => (onStall = resolve));
  const relay = await tcpRelay(new URL(mongoUri), (client, upstream) => {
    client.on('data', (chunk: Buffer) => {
      if (state === 'passing' && needles.every((needle) => chunk.includes(needle))) {
        state = 'holding';
        onStall();
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => (state === 'holding' ? held.push({ client, chunk }) : client.write(chunk)));
  });
  const uri = new URL(mongoUri);
  uri.host = `127.0.0.1:${relay.port}`;
  return {
    /** `mongoUri` through the relay. */
    uri: uri.toString(),
    /** Settles when a command naming the markers has gone through; from then on answers are held. */
    stalled,
    /** Sends the answers held, in order, and passes everything on from now on. */
    release: () => {
      state = 'released';
      for (const { client, chunk } of held.splice(0)) client.write(chunk);
    },
    close: relay.close,
  };
}
