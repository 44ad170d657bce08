import compress from '@fastify/compress';
import etag from '@fastify/etag';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { constants as zlib } from 'node:zlib';
import type { AppConfig } from '../config/app-config.js';
import { ReadinessState } from '../lifecycle/readiness-state.js';
import { REQUEST_ID_HEADER } from './request-id.js';

const PROBE_PATHS = new Set(['/health/live', '/health/ready']);

/**
 * Probes run every few seconds: a healthy one is debug, a failing one (readiness 503 during an outage
 * or a drain) is a warning, since the outage itself is logged where it happens.
 */
function requestLogLevel(status: number, isProbe: boolean): 'debug' | 'info' | 'warn' | 'error' {
  if (isProbe) return status < 400 ? 'debug' : 'warn';
  if (status >= 500) return 'error';
  return status >= 400 ? 'warn' : 'info';
}

/** Request-level behaviour that lives in Fastify hooks rather than Nest interceptors (it must see every reply, 404s included). */
export async function registerHttpHooks(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const readiness = app.get(ReadinessState);
  const fastify = app.getHttpAdapter().getInstance();

  fastify.addHook('onRequest', async (request, reply) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    // Clients that compress end to end themselves (or debug raw bytes) opt out per request.
    if (request.headers['x-no-compression'] !== undefined) request.headers['accept-encoding'] = 'identity';
  });

  fastify.addHook('onResponse', async (request, reply) => {
    const status = reply.statusCode;
    const level = requestLogLevel(status, PROBE_PATHS.has(request.routeOptions.url ?? ''));
    request.log[level](
      {
        method: request.method,
        url: request.url,
        // The route pattern (/v1/profiles/:id) groups requests without per-id cardinality.
        route: request.routeOptions.url,
        status,
        durationMs: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
  });

  fastify.addHook('onSend', async (_request, reply) => {
    // While draining, ask keep-alive clients to reconnect, which lands them on another instance.
    if (readiness.isShuttingDown) void reply.header('connection', 'close');
  });

  // Weak ETags over the uncompressed body (registered before compression); If-None-Match → 304.
  await app.register(etag, { weak: true });
  await app.register(compress, {
    global: true,
    threshold: config.http.compressionThresholdBytes,
    encodings: ['br', 'gzip'],
    // Brotli's default quality 11 costs ~10x the CPU of 4 for a few percent on JSON.
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  });
}
