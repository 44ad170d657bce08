import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { isListening } from '../support/ports.js';
import { startApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

// A batch accepted before close() started, whose handler runs after it (its body was still arriving): Fastify refuses
// to inject into a closing server, which turned the whole batch into a 500. Each item is answered like a request
// arriving at that moment: a 503 problem saying to retry.
it('answers the items of a batch whose handler runs while the server closes with 503s, not the batch with a 500', async () => {
  const running = await startApp(testConfig());
  const { port } = new URL(running.url);
  const body = JSON.stringify({ requests: [{ method: 'GET', path: '/v1/plans' }] });
  const socket = connect(Number(port), '127.0.0.1');
  const chunks: Buffer[] = [];
  const ended = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `POST /v1/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  socket.write(body.slice(0, 10));
  // Let the server take the request in (its onRequest hooks run) before closing starts.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const closed = running.close();
  while (await isListening(Number(port))) await new Promise((resolve) => setTimeout(resolve, 20));
  socket.write(body.slice(10));
  const received = await ended;
  await closed;

  const [head = '', payload = ''] = received.split('\r\n\r\n');
  expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  const { responses } = JSON.parse(payload) as { responses: { status: number; body: Record<string, unknown> }[] };
  expect(responses).toHaveLength(1);
  expect(responses[0]).toMatchObject({
    status: 503,
    body: { status: 503, instance: '/v1/plans' },
    headers: { 'retry-after': '5' },
  });
  expect(String(responses[0].body.detail)).toMatch(/shutting down/i);
}, 30_000);
