import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { onRefusedBeforeRouting } from '../http/framework-errors.js';
import { onAbandonedRequest } from '../http/abandoned-requests.js';
import type { RequestStats } from './request-stats.js';

/** The performance guide's buckets, 10 ms to 5 s. */
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Label of requests that matched no route (404s, scanners): never their raw path, which is unbounded. */
const UNMATCHED = 'unmatched';
/**
 * Series an alert counts with increase(), which cannot see a series' first sample: created at 0 when the pod starts,
 * or the first refusal on each pod goes uncounted, and VestaPaymentWebhooksRefused (3 an hour) stayed silent for a
 * provider's few deliveries an hour spread over several pods.
 */
const ALERTED_SERIES = [400, 404, 503].map((status) => ({
  method: 'POST',
  route: '/v1/subscriptions/webhooks/:provider',
  status_code: status,
}));

/**
 * Request metrics from Fastify hooks, so every reply counts (404s and Fastify's own 4xx included; the 400s and 414s it
 * answers before routing, which run no hook, are reported by their handler).
 * `route` is the route template (/v1/profiles/:id), never the URL, which keeps the series count
 * bounded by the number of routes. Gauges read the counters only when scraped.
 */
export function registerHttpMetrics(fastify: FastifyInstance, registry: Registry, stats: RequestStats): void {
  const labelNames = ['method', 'route', 'status_code'] as const;
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Duration of HTTP requests in seconds',
    labelNames,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const total = new Counter({
    name: 'http_requests_total',
    help: 'Total number of HTTP requests',
    labelNames,
    registers: [registry],
  });
  for (const labels of ALERTED_SERIES) total.inc(labels, 0);
  new Gauge({
    name: 'http_requests_in_flight',
    help: 'Requests received and not yet answered',
    registers: [registry],
    collect() {
      this.set(stats.inFlight);
    },
  });
  new Gauge({
    name: 'http_active_connections',
    help: 'Open client connections (keep-alive included)',
    registers: [registry],
    collect() {
      this.set(stats.connections);
    },
  });

  fastify.server.on('connection', (socket) => {
    stats.connections += 1;
    socket.once('close', () => (stats.connections -= 1));
  });
  // In flight from Node's own events: every response emits 'close' exactly once, answered or abandoned by its
  // client, whereas Fastify's onResponse misses requests whose client disconnected before the reply.
  fastify.server.on('request', (_request, response: ServerResponse) => {
    if (response.closed) return;
    stats.inFlight += 1;
    response.once('close', () => (stats.inFlight -= 1));
  });
  const observed = new WeakSet<FastifyRequest>();
  const observe = (request: FastifyRequest, reply: FastifyReply, status = reply.statusCode): void => {
    if (observed.has(request)) return;
    observed.add(request);
    stats.record(status);
    const labels = {
      method: METHODS.has(request.method) ? request.method : 'OTHER',
      route: request.routeOptions.url ?? UNMATCHED,
      status_code: status,
    };
    // 0 for requests refused before routing: Fastify starts the clock at routing. They are answered on arrival.
    duration.observe(labels, reply.elapsedTime / 1000);
    total.inc(labels);
  };
  fastify.addHook('onResponse', (request, reply, done) => {
    observe(request, reply);
    done();
  });
  // A request whose client left first counts too, with the time until it left (see onAbandonedRequest).
  onAbandonedRequest(fastify, observe);
  onRefusedBeforeRouting(fastify, observe);
}
