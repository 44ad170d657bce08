import { connect, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

// A client may open a connection and not send its request yet: a browser's preconnect, a proxy's warm pool, or one
// that dropped its end without a FIN reaching us. Node's closeIdleConnections passes over such a connection (it counts
// as a request whose headers are due), and server.close() stops the header timeout that would end it, so close()
// waited for the client: until 2026-12-06 for ever in process, and SIGTERM ended with exit 1 at SHUTDOWN_GRACE_MS.

let socket: Socket | undefined;
afterEach(() => {
  socket?.destroy();
  socket = undefined;
});

async function openConnection(running: RunningApp): Promise<Socket> {
  const opened = connect(Number(new URL(running.url).port), '127.0.0.1');
  await new Promise((resolve, reject) => opened.once('connect', resolve).once('error', reject));
  opened.on('error', () => undefined);
  // Accepted on the server's side too.
  const server = running.app.getHttpServer();
  for (;;) {
    const count = await new Promise<number>((resolve) => server.getConnections((_error, n) => resolve(n)));
    if (count > 0) return opened;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | string> {
  return Promise.race([
    promise,
    new Promise<string>((resolve) => setTimeout(() => resolve(`still open after ${ms} ms`), ms)),
  ]);
}

it('closes at once while a client holds a connection it has sent nothing on', async () => {
  const running = await startApp(testConfig());
  socket = await openConnection(running);
  const started = performance.now();
  expect(
    await within(
      running.close().then(() => 'closed'),
      5_000,
    ),
  ).toBe('closed');
  expect(performance.now() - started).toBeLessThan(2_000);
}, 30_000);

it('closes within HANDLER_TIMEOUT_MS while a client is still sending the head of its request', async () => {
  const running = await startApp(testConfig({ HANDLER_TIMEOUT_MS: '1000' }));
  socket = await openConnection(running);
  socket.write('GET /v1/plans HTTP/1.1\r\nHost: localhost\r\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(
    await within(
      running.close().then(() => 'closed'),
      5_000,
    ),
  ).toBe('closed');
}, 30_000);
