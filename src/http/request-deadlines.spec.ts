import { HttpException } from '@nestjs/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config/app-config.js';
import { registerHttpHooks } from './http-hooks.js';
import { registerRequestDeadlines } from './request-deadlines.js';
import { dropSuccessHeaders } from '../common/problem/problem-details.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Keeps the CPU busy, as a handler doing heavy work would: no timer can fire meanwhile. */
const busy = (ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end;);
};
const largeBody = () => ({ items: Array.from({ length: 500 }, (_, i) => ({ id: i, bio: `member ${i} `.repeat(4) })) });

/** Fastify with the deadlines and the API's own hooks (compression, ETag), as app.factory.ts registers them. */
async function server(env: Record<string, string>, routes: (fastify: FastifyInstance) => void) {
  const config = loadConfig({ COMPRESSION_THRESHOLD_BYTES: '1024', ...env });
  const fastify = Fastify();
  registerRequestDeadlines(fastify, config);
  await registerHttpHooks(fastify, config, { isShuttingDown: false });
  // The app's ProblemDetailsFilter in miniature: an HttpException keeps its status, a success's headers go.
  fastify.setErrorHandler((error, _request, reply) => {
    dropSuccessHeaders(reply);
    return reply
      .status(error instanceof HttpException ? error.getStatus() : 500)
      .send({ detail: (error as Error).message });
  });
  routes(fastify);
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const { port } = fastify.server.address() as { port: number };
  return { fastify, url: `http://127.0.0.1:${port}` };
}

describe('request deadlines', () => {
  let fastify: FastifyInstance | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await fastify?.close();
    fastify = undefined;
  });

  it('answers 503 with Retry-After at the deadline, and drops the late answer', async () => {
    let lateAnswerSent: boolean | undefined;
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '100' }, (app) =>
      app.get('/late', async (_request, reply) => {
        await pause(600);
        lateAnswerSent = reply.sent;
        return { late: true };
      }),
    ));
    const response = await fetch(`${fastify.listeningOrigin}/late`);
    // Answered while the handler still ran (an order, not a time: this machine is shared, and a timed bound failed
    // under load).
    expect(lateAnswerSent).toBeUndefined();
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toEqual({ detail: 'No answer within 100 ms; retry in a few seconds' });
    await expect.poll(() => lateAnswerSent, { timeout: 3_000 }).toBe(true);
  });

  it('keeps the validators and caching of an answer it replaces off the 503', async () => {
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '100' }, (app) =>
      app.get('/file', async (_request, reply) => {
        void reply.header('etag', '"abc"').header('cache-control', 'public, max-age=2592000, immutable');
        await pause(300);
        return 'bytes';
      }),
    ));
    const response = await fetch(`${fastify.listeningOrigin}/file`);
    expect(response.status).toBe(503);
    expect(response.headers.get('etag')).not.toBe('"abc"');
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  /** Sends a request whose body stops after its first bytes; resolves with what came back and whether it closed. */
  const stalledBody = async (path: string, contentType: string) => {
    const socket = connect(Number(new URL(fastify!.listeningOrigin).port), '127.0.0.1');
    let received = '';
    socket.on('data', (data: Buffer) => (received += data.toString()));
    const closedByServer = once(socket, 'end');
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: 100\r\n\r\n{"a":`,
    );
    const ended = await Promise.race([closedByServer.then(() => true), pause(2_000).then(() => false)]);
    socket.destroy();
    return { received, ended };
  };

  it('answers 408 and closes the connection when the client has not sent the whole body by the deadline', async () => {
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '100' }, (app) => app.post('/echo', (request) => request.body)));
    const { received, ended } = await stalledBody('/echo', 'application/json');
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(ended).toBe(true);
  });

  it('ends a body still arriving once its 408 is out, so a handler reading it does not wait forever', async () => {
    let bodyClosed = false;
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '100' }, (app) => {
      app.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null));
      app.post('/stream', async (request) => {
        request.raw.resume(); // reading as it comes, as the multipart parser does
        await once(request.raw, 'close');
        bodyClosed = true;
        return 'late';
      });
    }));
    const { received } = await stalledBody('/stream', 'application/octet-stream');
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    await expect.poll(() => bodyClosed).toBe(true);
  });

  it.each([
    ['stopped reading it', true],
    ['has not started reading it yet', false],
  ])(
    'answers 503 when the body waits for a handler that %s (the server is slow, not the client)',
    async (_case, paused) => {
      ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '100' }, (app) => {
        app.addContentTypeParser('application/octet-stream', (_request, _payload, done) => done(null));
        app.post('/stream', async (request) => {
          // Paused as a pipe does when what it writes into (GridFS) stops taking data; or never read, as an upload
          // still waiting for its quota to be read leaves it.
          if (paused) request.raw.pause();
          await pause(500);
          return 'late';
        });
      }));
      const { received, ended } = await stalledBody('/stream', 'application/octet-stream');
      expect(received).toMatch(/^HTTP\/1\.1 503 /);
      expect(received.toLowerCase()).toContain('connection: close');
      expect(ended).toBe(true);
    },
  );

  it('lets an answer that is ready stand, however long compressing it takes', async () => {
    // The handler overruns the deadline without yielding, so the timer is overdue when the answer goes to compression.
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '50' }, (app) =>
      app.get('/busy', () => {
        busy(80);
        return largeBody();
      }),
    ));
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const response = await fetch(`${fastify.listeningOrigin}/busy`, { headers: { 'accept-encoding': 'br, gzip' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-encoding')).toMatch(/br|gzip/);
      expect(await response.json()).toEqual(largeBody());
    }
  });

  it('gives a streamed answer MEDIA_DOWNLOAD_TIMEOUT_MS from its start, then closes the connection', async () => {
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '100', MEDIA_DOWNLOAD_TIMEOUT_MS: '400' }, (app) =>
      app.get('/endless', (_request, reply) => {
        let sent = 0;
        const stream = new Readable({
          read() {
            setTimeout(() => this.push(Buffer.alloc(1_000, sent++)), 20);
          },
        });
        return reply.header('content-type', 'application/octet-stream').send(stream);
      }),
    ));
    const started = Date.now();
    const response = await fetch(`${fastify.listeningOrigin}/endless`, { headers: { 'accept-encoding': 'identity' } });
    expect(response.status).toBe(200);
    let received = 0;
    const reading = (async () => {
      for await (const chunk of response.body!) received += (chunk as Uint8Array).length;
    })();
    await expect(reading).rejects.toThrow();
    // Past HANDLER_TIMEOUT_MS, which no longer applies once the answer has started.
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    expect(received).toBeGreaterThan(5_000);
  });

  it('cuts a download still streaming HANDLER_TIMEOUT_MS after the server starts closing, so the close ends', async () => {
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '300', MEDIA_DOWNLOAD_TIMEOUT_MS: '600000' }, (app) =>
      app.get('/endless', (_request, reply) => {
        const stream = new Readable({
          read() {
            setTimeout(() => this.push(Buffer.alloc(1_000)), 20);
          },
        });
        return reply.header('content-type', 'application/octet-stream').send(stream);
      }),
    ));
    const response = await fetch(`${fastify.listeningOrigin}/endless`, { headers: { 'accept-encoding': 'identity' } });
    expect(response.status).toBe(200);
    const reading = (async () => {
      for await (const _chunk of response.body!);
    })();
    const closing = fastify.close();
    fastify = undefined;
    // Without the cut, the close waits for the download's own 10 minutes and the test times out.
    await expect(reading).rejects.toThrow();
    await closing;
  });

  it('cuts a download that starts while the server closes at the same time as the others, not later', async () => {
    let startStreaming!: () => void;
    const handlerWaits = new Promise<void>((resolve) => (startStreaming = resolve));
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '1000', MEDIA_DOWNLOAD_TIMEOUT_MS: '600000' }, (app) =>
      app.get('/slow-start', async (_request, reply) => {
        await handlerWaits;
        const stream = new Readable({
          read() {
            setTimeout(() => this.push(Buffer.alloc(1_000)), 20);
          },
        });
        return reply.header('content-type', 'application/octet-stream').send(stream);
      }),
    ));
    const answered = fetch(`${fastify.listeningOrigin}/slow-start`, { headers: { 'accept-encoding': 'identity' } });
    await pause(50);
    const started = vi.spyOn(globalThis, 'setTimeout');
    const closing = fastify.close();
    fastify = undefined;
    await pause(400);
    startStreaming();
    const response = await answered;
    expect(response.status).toBe(200);
    const cut = started.mock.calls.find(([callback]) => (callback as { name?: string }).name === 'cutDownload');
    // Cut when the close started plus HANDLER_TIMEOUT_MS, of which 400 ms had passed (timers may fire a millisecond
    // early by the clock): not 1000 ms from now.
    expect(cut?.[1]).toBeLessThanOrEqual(650);
    await expect(
      (async () => {
        for await (const _chunk of response.body!);
      })(),
    ).rejects.toThrow();
    await closing;
  });

  it('drops the timer of a request whose client went away', async () => {
    const started = vi.spyOn(globalThis, 'setTimeout');
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    let answerClosed: Promise<unknown> | undefined;
    ({ fastify } = await server({ HANDLER_TIMEOUT_MS: '60000' }, (app) =>
      app.get('/never', (_request, reply) => {
        answerClosed = once(reply.raw, 'close');
        return new Promise(() => undefined);
      }),
    ));
    const client = request(`${fastify.listeningOrigin}/never`).on('error', () => undefined);
    client.end();
    await expect.poll(() => answerClosed !== undefined).toBe(true);
    const deadline = started.mock.results[started.mock.calls.findIndex(([, ms]) => ms === 60_000)]?.value as unknown;
    expect(deadline).toBeDefined();
    expect(cleared).not.toHaveBeenCalledWith(deadline);
    client.destroy();
    await answerClosed;
    expect(cleared).toHaveBeenCalledWith(deadline);
  });
});
