import { connect, type Socket } from 'node:net';
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

/** Commands that only answer from the server's process, touching no stored data. */
const STORAGE_FREE_COMMANDS = new Set(['hello', 'ismaster', 'ping', 'buildinfo', 'endsessions', 'killcursors']);

/**
 * A relay to the test MongoDB that, while `wedge()` holds, answers the handshake and `ping` but holds every command
 * that reads or writes data (and what follows it on that connection) until `unwedge()`: a server whose storage is
 * stuck, such as FerretDB whose PostgreSQL tables are locked (its ping reads only its in-memory catalogue).
 */
export async function wedgingMongoProxy(mongoUri: string) {
  let wedged = false;
  const waiting = new Map<Socket, { upstream: Socket; messages: Buffer[] }>();
  const relay = await tcpRelay(new URL(mongoUri), (client, upstream) => {
    eachMessage(client, (message) => {
      const held = waiting.get(client);
      if (held) held.messages.push(message);
      else if (wedged && !touchesNoData(message)) {
        waiting.set(client, { upstream, messages: [message] });
      } else upstream.write(message);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', () => waiting.delete(client));
  });
  const uri = new URL(mongoUri);
  uri.host = `127.0.0.1:${relay.port}`;
  return {
    /** `mongoUri` through the relay. */
    uri: uri.toString(),
    wedge: () => void (wedged = true),
    /** Sends the commands held, in order, and passes everything on from now on. */
    unwedge: () => {
      wedged = false;
      for (const { upstream, messages } of waiting.values()) messages.forEach((message) => upstream.write(message));
      waiting.clear();
    },
    close: relay.close,
  };
}

/**
 * A relay to the test MongoDB that, once armed, keeps back the first command naming every one of `markers` and sends
 * it to the server only at `deliver()`, on a connection of its own, after its client has given up on the answer and
 * closed the connection: what a server that stalled past the driver's socket timeout does with a command waiting in its
 * socket once it resumes (seen with FerretDB stopped by SIGSTOP and continued). Everything else passes.
 */
export async function lateDeliveryMongoProxy(mongoUri: string, ...markers: string[]) {
  const needles = markers.map((marker) => Buffer.from(marker));
  const target = new URL(mongoUri);
  let armed = false;
  let held: Buffer | undefined;
  let onHeld = () => {};
  const heldNow = new Promise<void>((resolve) => (onHeld = resolve));
  const relay = await tcpRelay(target, (client, upstream) => {
    eachMessage(client, (message) => {
      if (armed && !held && needles.every((needle) => message.includes(needle))) {
        held = message;
        onHeld();
      } else upstream.write(message);
    });
    upstream.on('data', (chunk: Buffer) => void (client.destroyed || client.write(chunk)));
  });
  const uri = new URL(mongoUri);
  uri.host = `127.0.0.1:${relay.port}`;
  return {
    /** `mongoUri` through the relay. */
    uri: uri.toString(),
    /** From now on, the next command naming the markers is held. */
    arm: () => void (armed = true),
    /** Settles when that command has been held. */
    heldNow,
    /** Sends the held command to the server and settles once the server has answered it. */
    deliver: () =>
      new Promise<void>((resolve, reject) => {
        const late = connect(Number(target.port), target.hostname, () => late.write(held!));
        late.once('data', () => resolve(void late.destroy())).once('error', reject);
      }),
    close: relay.close,
  };
}

/** Calls `each` with every whole wire message the socket receives (a message starts with its length). */
function eachMessage(socket: Socket, each: (message: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
      const message = pending.subarray(0, pending.readInt32LE(0));
      pending = pending.subarray(message.length);
      each(message);
    }
  });
}

/** Whether a message is a storage-free command, or not an OP_MSG (the drivers' first handshake is an OP_QUERY). */
function touchesNoData(message: Buffer): boolean {
  const OP_MSG = 2013;
  if (message.readInt32LE(12) !== OP_MSG) return true;
  // Header (16 bytes), flag bits (4), section kind (1), the body's length (4), its first element's type (1), its name.
  const start = 26;
  return STORAGE_FREE_COMMANDS.has(message.subarray(start, message.indexOf(0, start)).toString('latin1').toLowerCase());
}
