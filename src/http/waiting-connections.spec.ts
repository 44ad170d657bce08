import Fastify, { type FastifyInstance } from 'fastify';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppConfig } from '../config/app-config.js';
import { closeWaitingConnections } from './waiting-connections.js';

describe('closeWaitingConnections', () => {
  // A later pipelined answer can end before an earlier one: only the last response was looked at until 2026-12-06.
  it('does not cut a connection whose first pipelined request is still in progress', async () => {
    const fastify = Fastify();
    closeWaitingConnections(fastify, { http: { handlerTimeoutMs: 200 } } as AppConfig);
    // As http-hooks.ts does: while closing, each finished response closes what has turned idle.
    let serverClosing = false;
    fastify.addHook('preClose', (done) => {
      serverClosing = true;
      done();
    });
    fastify.addHook('onResponse', (_request, _reply, done) => {
      if (serverClosing) setImmediate(() => fastify.server.closeIdleConnections());
      done();
    });
    fastify.get('/slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 800));
      return 'slow done';
    });
    fastify.get('/fast', () => Promise.resolve('fast done'));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    const port = (fastify.server.address() as { port: number }).port;
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = fastify.close();
    await closed;
    await closing;
    expect(received).toContain('slow done');
    expect(received).toContain('fast done');
  }, 10_000);
});

describe('closeWaitingConnections, for pipelined requests', () => {
  let app: FastifyInstance | undefined;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  afterEach(async () => {
    process.off('warning', onWarning);
    warnings.length = 0;
    await app?.close();
  });

  // Any client may pipeline as many requests as it likes behind a slow one; each is a connection's worth of queued
  // responses, not a leak, and must not print Node's "possible memory leak" warning to stderr once per connection.
  it('closes every response queued behind a slow one, however many, without a listener per response', async () => {
    process.on('warning', onWarning);
    app = Fastify();
    closeWaitingConnections(app, { http: { handlerTimeoutMs: 200 } } as AppConfig);
    let closed = 0;
    app.addHook('onRequest', (request, reply, done) => {
      if (request.url === '/fast') reply.raw.once('close', () => (closed += 1));
      done();
    });
    app.get('/slow', () => new Promise((resolve) => setTimeout(() => resolve('slow'), 10_000)));
    app.get('/fast', () => 'fast');
    await app.listen({ port: 0, host: '127.0.0.1' });

    const socket = connect((app.server.address() as { port: number }).port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET /fast HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(30));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();

    await expect.poll(() => closed).toBe(30);
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
  });
});
