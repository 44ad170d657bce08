import { ServiceUnavailableException } from '@nestjs/common';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { mergeRouteConfig } from './route-config.js';

const DEADLINE = Symbol('deadline');
const RETRY_AFTER_S = 5;

declare module 'fastify' {
  interface FastifyContextConfig {
    fileTransfer?: boolean;
  }
  interface FastifyRequest {
    [DEADLINE]: NodeJS.Timeout | null;
  }
}

/**
 * Marks a route that moves a whole file over the client's link (upload, download). It gets MEDIA_TRANSFER_TIMEOUT_MS
 * instead of HANDLER_TIMEOUT_MS, which is sized for API calls and would cut a slow mobile transfer short.
 */
export const FileTransfer = (): MethodDecorator => mergeRouteConfig({ fileTransfer: true });

/**
 * Every request is answered within its deadline: a database that hangs (no error, no answer) would otherwise hold it
 * for MONGODB_SOCKET_TIMEOUT_MS, and queued ones for longer. Past the deadline the client gets a 503 problem; the
 * handler's own work runs on and its late answer is dropped. Fastify's `handlerTimeout` does this but, in 5.12,
 * stops its timer once a request body has been read (decision 0021), so it never bounds a write.
 */
export function registerHandlerTimeouts(fastify: FastifyInstance, { http, media }: AppConfig): void {
  fastify.decorateRequest(DEADLINE, null);
  fastify.addHook('onRequest', (request, reply, done) => {
    const timeoutMs = request.routeOptions.config.fileTransfer ? media.transferTimeoutMs : http.handlerTimeoutMs;
    if (timeoutMs > 0) request[DEADLINE] = setTimeout(answerLate, timeoutMs, reply, timeoutMs);
    done();
  });
  fastify.addHook('onResponse', (request, _reply, done) => {
    clearTimeout(request[DEADLINE] ?? undefined);
    done();
  });
}

function answerLate(reply: FastifyReply, timeoutMs: number): void {
  if (reply.sent) return;
  // A download already under way cannot turn into an error: cut it, as a client's own timeout would.
  if (reply.raw.headersSent) {
    reply.raw.destroy();
    return;
  }
  void reply
    .header('retry-after', String(RETRY_AFTER_S))
    .send(new ServiceUnavailableException(`No answer within ${timeoutMs} ms; retry in a few seconds`));
}
