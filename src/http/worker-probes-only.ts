import type { FastifyInstance } from 'fastify';
import { genericProblem, PROBLEM_CONTENT_TYPE } from '../common/problem/problem-details.js';
import { isProbe } from '../health/probe-paths.js';

/**
 * A worker (ROLE=worker) runs queue processors and schedules; its HTTP port exists for the
 * orchestrator's probes only. Every other path gets a 404, so a worker that ends up behind the
 * API's Service by mistake fails loudly instead of quietly serving traffic it was not sized for.
 */
export function serveProbesOnly(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (isProbe(request.url)) return done();
    void reply
      .status(404)
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .send(
        genericProblem(
          request,
          404,
          'This instance runs background jobs (ROLE=worker); it answers only /health/live and /health/ready',
        ),
      );
  });
}
