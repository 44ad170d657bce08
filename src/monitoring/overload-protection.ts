import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { genericProblem, PROBLEM_CONTENT_TYPE, UNAVAILABLE_RETRY_AFTER_S } from '../common/problem/problem-details.js';
import type { AppConfig } from '../config/app-config.js';
import { isProbe } from '../health/probe-paths.js';

/**
 * Past OVERLOAD_MAX_EVENT_LOOP_DELAY_MS of event-loop delay or OVERLOAD_MAX_HEAP_MB of heap, new
 * requests get an immediate 503 with Retry-After instead of queueing behind the work already
 * admitted (which would only make every request late). @fastify/under-pressure samples both.
 */
export async function registerOverloadProtection(
  fastify: FastifyInstance,
  config: AppConfig,
  registry: Registry,
): Promise<void> {
  const rejected = new Counter({
    name: 'http_overload_rejections_total',
    help: 'Requests refused with 503 because the process was overloaded, by cause',
    labelNames: ['reason'],
    registers: [registry],
  });
  await fastify.register(underPressure, {
    maxEventLoopDelay: config.overload.maxEventLoopDelayMs,
    maxHeapUsedBytes: config.overload.maxHeapBytes,
    // The plugin sends what the handler returns and lets the request through on undefined; its typings say void.
    pressureHandler: ((request: FastifyRequest, reply: FastifyReply, type: string) => {
      // Probes answer under pressure: liveness must not restart a busy pod; readiness has its own heap check.
      if (isProbe(request.url)) return undefined;
      rejected.inc({ reason: type });
      void reply
        .status(503)
        .header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S))
        .header('content-type', PROBLEM_CONTENT_TYPE);
      return genericProblem(request, 503, `Overloaded (${type}); retry in ${UNAVAILABLE_RETRY_AFTER_S} s`);
    }) as unknown as FastifyUnderPressureOptions['pressureHandler'],
  });
}
