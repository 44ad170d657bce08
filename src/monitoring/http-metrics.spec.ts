import Fastify, { type FastifyInstance } from 'fastify';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { clientErrorHandler } from '../http/framework-errors.js';
import { registerHttpMetrics } from './http-metrics.js';
import { RequestStats } from './request-stats.js';

describe('HTTP request metrics', () => {
  let app: FastifyInstance | undefined;

  afterEach(async () => {
    await app?.close();
  });

  // Node answers a request whose body has not all arrived within REQUEST_TIMEOUT_MS with a 408 of its own (at its
  // next connection check) and closes the connection: an upload on a slow network, in the middle of being read. Its
  // client got that 408; the metrics counted it as a 499, a client that left (until 2026-12-06).
  it("counts a request Node's server cut off for a late body with the 408 its client got, not as a client that left", async () => {
    app = Fastify({
      clientErrorHandler,
      serverFactory: (handler) => createServer({ requestTimeout: 200, connectionsCheckingInterval: 50 }, handler),
    });
    const registry = new Registry();
    registerHttpMetrics(app, registry, new RequestStats());
    app.post('/uploads', () => 'stored');
    await app.listen({ port: 0, host: '127.0.0.1' });

    const socket = connect((app.server.address() as { port: number }).port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(
      'POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a"',
    );
    await closed;

    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    const counted = (await registry.getSingleMetric('http_requests_total')!.get()).values
      .filter(({ labels }) => labels.route === '/uploads')
      .map(({ labels, value }) => `${labels.status_code}=${value}`);
    expect(counted).toEqual(['408=1']);
  });
});
