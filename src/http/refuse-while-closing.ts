import type { FastifyInstance } from 'fastify';
import { genericProblem, PROBLEM_CONTENT_TYPE, UNAVAILABLE_RETRY_AFTER_S } from '../common/problem/problem-details.js';
import { isProbe } from '../health/probe-paths.js';

/**
 * Once close() has started, a request can still arrive on a keep-alive connection that was busy when the listener
 * closed. It gets a 503 problem with Retry-After, as every 503 does. Fastify's own answer (return503OnClosing) is
 * plain JSON without Retry-After, written before any hook runs. Probes go on to their handlers, so liveness stays
 * 200 and readiness names the shutdown.
 */
export function refuseWhileClosing(fastify: FastifyInstance): void {
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!closing || isProbe(request.url)) return done();
    void reply
      .status(503)
      .header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S))
      .header('connection', 'close')
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .send(genericProblem(request, 503, `Shutting down; retry in ${UNAVAILABLE_RETRY_AFTER_S} s`));
  });
}
