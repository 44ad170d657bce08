import Fastify from 'fastify';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
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
