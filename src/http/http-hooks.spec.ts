import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { createRootLogger } from '../logging/root-logger.js';
import { registerHttpHooks } from './http-hooks.js';
import { fastifyOptions } from './fastify-options.js';
import { recordFailure } from './request-failure.js';

/** One chunk, then nothing until the client leaves. */
async function* trickle(): AsyncGenerator<string> {
  yield 'first';
  await new Promise(() => undefined);
}

/** A Fastify app with the API's logger and hooks, writing its log lines into `lines`. */
async function appLoggingTo(lines: Record<string, unknown>[]): Promise<FastifyInstance> {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const config = loadConfig({});
  // Typed as Fastify's base logger (which pino implements), as in app.factory.ts.
  const loggerInstance: FastifyBaseLogger = createRootLogger('info', sink);
  const app = Fastify({ ...fastifyOptions(config), loggerInstance });
  await registerHttpHooks(app, config, { isShuttingDown: false });
  app.get('/things/:id', (request) => {
    request.log.info({ user: { password: 'hunter22' }, upstream: { headers: { cookie: 'session=abc' } } }, 'by hand');
    return { ok: true };
  });
  // As the problem filter does for a 5xx answer.
  app.get('/broken', (request, reply) => {
    recordFailure(request, 'MongoNetworkError: connection 3 to 127.0.0.1:27017 closed');
    return reply.status(503).send({ detail: 'The database is not answering' });
  });
  return app;
}

describe('registerHttpHooks: logging', () => {
  let app: FastifyInstance | undefined;
  afterEach(() => app?.close());

  it('writes one request line with the request id, route and status', async () => {
    const lines: Record<string, unknown>[] = [];
    app = await appLoggingTo(lines);
    const response = await app.inject({ url: '/things/42', headers: { 'x-request-id': 'line-1' } });
    expect(response.statusCode).toBe(200);
    const line = lines.find((entry) => entry.msg === 'request completed');
    expect(line).toMatchObject({
      reqId: 'line-1',
      method: 'GET',
      url: '/things/42',
      route: '/things/:id',
      status: 200,
      service: 'vesta-api',
      level: 30,
    });
    expect(typeof line?.durationMs).toBe('number');
    expect(line).not.toHaveProperty('error');
  });

  it('writes one line for an injected request (a batch item), not also an abandoned one', async () => {
    const lines: Record<string, unknown>[] = [];
    app = await appLoggingTo(lines);
    await app.inject({ url: '/things/7', headers: { 'x-request-id': 'batch.1' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const requestLines = lines.filter((entry) => entry.reqId === 'batch.1' && String(entry.msg).startsWith('request '));
    expect(requestLines.map((entry) => entry.msg)).toEqual(['request completed']);
  });

  it('says on the request line why a request failed', async () => {
    const lines: Record<string, unknown>[] = [];
    app = await appLoggingTo(lines);
    await app.inject({ url: '/broken' });
    expect(lines.filter((entry) => entry.msg === 'request completed')).toMatchObject([
      { status: 503, level: 50, error: 'MongoNetworkError: connection 3 to 127.0.0.1:27017 closed' },
    ]);
  });

  it('still redacts what handlers log by hand, and tags it with the request id', async () => {
    const lines: Record<string, unknown>[] = [];
    app = await appLoggingTo(lines);
    await app.inject({ url: '/things/7', headers: { 'x-request-id': 'hand-1' } });
    const line = lines.find((entry) => entry.msg === 'by hand');
    expect(line).toMatchObject({
      reqId: 'hand-1',
      user: { password: '[redacted]' },
      upstream: { headers: '[redacted]' },
    });
    expect(JSON.stringify(lines)).not.toMatch(/hunter22|session=abc/);
  });

  it('logs a 404 for an unknown route at warn, without a route', async () => {
    const lines: Record<string, unknown>[] = [];
    app = await appLoggingTo(lines);
    await app.inject({ url: '/nowhere' });
    const line = lines.find((entry) => entry.msg === 'request completed');
    expect(line).toMatchObject({ status: 404, level: 40, url: '/nowhere' });
    expect(line?.route).toBeUndefined();
  });

  it('logs a request whose client left before the answer as abandoned, 499 or the status already sent', async () => {
    const lines: Record<string, unknown>[] = [];
    app = await appLoggingTo(lines);
    let routed = () => {};
    const hangsRouted = new Promise<void>((resolve) => (routed = resolve));
    app.get('/hangs', () => {
      routed();
      return new Promise(() => undefined);
    });
    app.get('/trickles', (_request, reply) => reply.type('text/plain').send(Readable.from(trickle())));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const leave = async (path: string, when: 'sent' | 'answered') => {
      const socket = connect(Number(new URL(url).port), '127.0.0.1');
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${path.slice(1)}\r\n\r\n`);
      if (when === 'answered') await once(socket, 'data');
      else await hangsRouted.then(() => new Promise((resolve) => setTimeout(resolve, 100)));
      socket.destroy();
    };
    await leave('/hangs', 'sent');
    await leave('/trickles', 'answered');
    expect((await fetch(`${url}/things/1`, { headers: { 'x-request-id': 'kept' } })).status).toBe(200);
    await vi.waitFor(() => expect(lines.filter((entry) => entry.msg === 'request abandoned')).toHaveLength(2));
    const abandoned = lines.filter((entry) => entry.msg === 'request abandoned');
    expect(abandoned).toMatchObject([
      { reqId: 'hangs', route: '/hangs', status: 499, level: 40 },
      { reqId: 'trickles', route: '/trickles', status: 200, level: 30 },
    ]);
    // Timed until the client left, 100 ms after its request reached the handler.
    expect(abandoned[0].durationMs).toBeGreaterThanOrEqual(90);
    // An answered request has its one line, not a second one when its connection closes.
    await app.close();
    app = undefined;
    const keptLines = lines.filter((entry) => entry.reqId === 'kept' && String(entry.msg).startsWith('request '));
    expect(keptLines.map((entry) => entry.msg)).toEqual(['request completed']);
  });
  it('keeps the connection of a request without a body that is answered at once, closes one whose body is unread', async () => {
    app = await appLoggingTo([]);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const connectionAfter = (headers: Record<string, string | number>, body?: Buffer) =>
      new Promise<string | undefined>((resolve, reject) => {
        const sent = request(`${url}/things/1`, { headers, agent }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.headers.connection));
        });
        sent.on('error', reject);
        sent.end(body);
      });
    try {
      // The handler answers before Node has marked the bodiless request complete: it closed every such connection.
      expect(await connectionAfter({})).toBe('keep-alive');
      const unread = gzipSync(Buffer.alloc(256 * 1024, 1));
      expect(await connectionAfter({ 'content-encoding': 'gzip', 'content-length': unread.length }, unread)).toBe(
        'close',
      );
    } finally {
      agent.destroy();
    }
  });
});

describe('registerHttpHooks: conditional GETs', () => {
  let app: FastifyInstance | undefined;
  afterEach(() => app?.close());

  it('answers 304 to If-None-Match lists and *, compared weakly, for successful GETs only', async () => {
    app = await appLoggingTo([]);
    app.post('/things', () => ({ created: true }));
    const first = await app.inject({ url: '/things/1' });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^W\/"/);
    // As fetch() sends them: a request that sets If-None-Match itself also gets Cache-Control: no-cache.
    const status = async (ifNoneMatch: string, method: 'GET' | 'POST' = 'GET', url = '/things/1') =>
      (await app!.inject({ method, url, headers: { 'if-none-match': ifNoneMatch, 'cache-control': 'no-cache' } }))
        .statusCode;

    expect(await status(etag)).toBe(304);
    expect(await status(`W/"other", ${etag}`)).toBe(304);
    expect(await status(etag.slice(2))).toBe(304); // the strong form of the same tag
    expect(await status('*')).toBe(304);
    expect(await status('W/"other", "another"')).toBe(200);
    expect(await status('*', 'POST', '/things')).toBe(200);
    expect(await status('*', 'GET', '/nowhere')).toBe(404);
  });
});
