import { Agent, get } from 'node:http';
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { isListening } from '../support/ports.js';
import { startApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

// A keep-alive connection still sending a response when close() starts must not hold the shutdown
// until KEEP_ALIVE_TIMEOUT_MS (65 s here) once that response is done.
it('closes within seconds when a keep-alive download is still streaming as close starts', async () => {
  const running = await startApp(testConfig());
  const member = await registerAccount(running.url);
  // 8 MiB: more than loopback socket buffers hold, so the response is still going while the client waits.
  const png = pngStructure(8 * 2 ** 20);
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(png)]), 'big.png');
  const upload = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
  expect(upload.status).toBe(201);
  const { id } = (await upload.json()) as { id: string };

  const agent = new Agent({ keepAlive: true });
  const received = await new Promise<{ bytes: number; closed: Promise<string> }>((resolve, reject) => {
    get(`${running.url}/v1/media/${id}`, { agent }, (response) => {
      response.pause();
      // Start closing while the body is still on its way, then read the rest.
      const closed = running.close().then(() => 'closed');
      setTimeout(() => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => resolve({ bytes, closed }));
        response.resume();
      }, 300);
    }).on('error', reject);
  });
  expect(received.bytes).toBe(png.length);
  const outcome = await Promise.race([
    received.closed,
    new Promise<string>((resolve) => setTimeout(() => resolve('still open after 10 s'), 10_000)),
  ]);
  agent.destroy();
  expect(outcome).toBe('closed');
}, 30_000);

// A request that arrives on a kept-alive connection once close() has started gets a 503 like every other: a problem
// with Retry-After (Fastify's own answer is plain JSON without it).
it('answers a request arriving on a busy keep-alive connection during close with a 503 problem', async () => {
  const running = await startApp(testConfig());
  const member = await registerAccount(running.url);
  // Big enough that the download is still being sent when the second request arrives on its connection.
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(pngStructure(8 * 2 ** 20))]), 'big.png');
  const upload = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
  expect(upload.status).toBe(201);
  const { id } = (await upload.json()) as { id: string };
  const { port } = new URL(running.url);

  const socket = connect(Number(port), '127.0.0.1');
  const chunks: Buffer[] = [];
  const ended = new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
  const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`;
  socket.write(request(`/v1/media/${id}`));
  await new Promise((resolve) => socket.once('data', resolve));
  socket.pause();
  const closed = running.close();
  // The listener closes once close() has reached Fastify: from then on Fastify counts as closing.
  while (await isListening(Number(port))) await new Promise((resolve) => setTimeout(resolve, 20));
  socket.write(request('/v1/plans'));
  socket.resume();
  const received = await ended;
  await closed;

  const second = received.subarray(received.lastIndexOf('HTTP/1.1 ')).toString('latin1');
  const [head = '', body = ''] = second.split('\r\n\r\n');
  expect(head.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
  expect(head.toLowerCase()).toContain('content-type: application/problem+json');
  expect(head.toLowerCase()).toContain('retry-after: 5');
  expect(JSON.parse(body)).toMatchObject({ status: 503, instance: '/v1/plans' });
}, 30_000);
