import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { Registry } from 'prom-client';
import { loadConfig } from '../src/config/app-config.js';
import { processEnv } from '../src/config/env.js';
import { corsOptions } from '../src/http/cors-options.js';
import { fastifyOptions } from '../src/http/fastify-options.js';
import { registerHttpHooks } from '../src/http/http-hooks.js';
import { registerRequestDeadlines } from '../src/http/request-deadlines.js';
import { createRootLogger } from '../src/logging/root-logger.js';
import { registerHttpMetrics } from '../src/monitoring/http-metrics.js';
import { registerOverloadProtection } from '../src/monitoring/overload-protection.js';
import { RequestStats } from '../src/monitoring/request-stats.js';

/**
 * Run (f): Fastify with every hook and plugin an API request passes outside Nest, registered by the API's own
 * functions with the API's configuration (request ids, request log, HTTP metrics, overload protection, ETag,
 * compression, CORS, the request deadline), returning the payload of (a). Its ratio to (a) is the ceiling of anything
 * built on them.
 */
const config = loadConfig(processEnv());
const payload = process.env.BENCH_PAYLOAD ?? '{}';
// As FastifyAdapter gets it in app.factory.ts (typed as Fastify's base logger, which pino implements).
const loggerInstance: FastifyBaseLogger = createRootLogger(config.log.level);
const app = Fastify({ ...fastifyOptions(config), loggerInstance });
const registry = new Registry();
registerRequestDeadlines(app, config);
await registerOverloadProtection(app, config, registry);
registerHttpMetrics(app, registry, new RequestStats());
await registerHttpHooks(app, config, { isShuttingDown: false });
await app.register(cors, corsOptions(config));
app.get('/payload', (_request, reply) => reply.header('content-type', 'application/json; charset=utf-8').send(payload));
await app.listen({ port: config.http.port, host: '127.0.0.1' });
