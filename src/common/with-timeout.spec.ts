import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { withTimeout } from './with-timeout.js';

/** A connected pair of sockets on the loopback interface. */
async function socketPair(): Promise<{ client: Socket; server: Socket; close: () => void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as { port: number };
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  return { client, server, close: () => (client.destroy(), server.destroy(), listener.close()) };
}

function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('withTimeout', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it('rejects when nothing arrives in time', async () => {
    await expect(withTimeout(new Promise(() => undefined), 20)).rejects.toThrow('no answer within 20 ms');
  });

  it('takes an answer that arrived while this process was too busy to read it, instead of timing out', async () => {
    const pair = await socketPair();
    close = pair.close;
    const answer = once(pair.client, 'data').then(([data]) => String(data));
    const guarded = withTimeout(answer, 20);
    pair.server.write('pong');
    // The answer reaches the socket within a millisecond, but the loop is busy for 60: the deadline passes first.
    blockEventLoop(60);
    await expect(guarded).resolves.toBe('pong');
  });

  it('counts from the end of the busy turn that made the call, as auto-pipelined commands leave only then', async () => {
    const pair = await socketPair();
    close = pair.close;
    const guarded = withTimeout(
      once(pair.client, 'data').then(([data]) => String(data)),
      20,
    );
    // The rest of a burst keeps this turn busy for 60 ms; the request goes out when the turn ends, and the other
    // side answers 5 ms later: well within 20 ms of waiting, though 65 ms after the call.
    blockEventLoop(60);
    setImmediate(() => setTimeout(() => pair.server.write('pong'), 5));
    await expect(guarded).resolves.toBe('pong');
  });
});
