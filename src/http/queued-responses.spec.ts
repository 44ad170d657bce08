import Fastify, { type FastifyInstance } from 'fastify';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeQueuedResponses } from './queued-responses.js';

describe('closeQueuedResponses', () => {
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
    closeQueuedResponses(app);
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
