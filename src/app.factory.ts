import multipart from '@fastify/multipart';
import { VersioningType } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Registry } from 'prom-client';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { corsOptions } from './http/cors-options.js';
import { fastifyOptions } from './http/fastify-options.js';
import { connectRefused, expectationFailed, refuseMissingHost } from './http/framework-errors.js';
import { jsonBodyParser } from './http/json-body-parser.js';
import { LateAnswerAdapter } from './http/late-answer-adapter.js';
import { registerOtherBodyTypes } from './http/other-body-types.js';
import { readContentEncoding, refuseMultipartOutsideUploads } from './http/multipart-routes.js';
import { keepPeerAddress } from './http/peer-address.js';
import { registerRequestDeadlines } from './http/request-deadlines.js';
import { closeWaitingConnections } from './http/waiting-connections.js';
import { refuseWhileClosing } from './http/refuse-while-closing.js';
import { nestLogger } from './logging/nest-logger.js';
import { createRootLogger } from './logging/root-logger.js';
import { registerHttpHooks } from './http/http-hooks.js';
import { serveProbesOnly } from './http/worker-probes-only.js';
import { ReadinessState } from './lifecycle/readiness-state.js';
import { METRICS_REGISTRY } from './metrics/metrics.constants.js';
import { registerHttpMetrics } from './monitoring/http-metrics.js';
import { registerOverloadProtection } from './monitoring/overload-protection.js';
import { RequestStats } from './monitoring/request-stats.js';
import { setupOpenApi } from './openapi.js';

/** Builds the fully wired application; main.ts and the e2e tests share it, so tests run what ships. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const rootLogger = createRootLogger(config.log.level);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config),
    new LateAnswerAdapter({ ...fastifyOptions(config), loggerInstance: rootLogger }),
    // logger: from the first line, so that a start that fails (MongoDB unreachable) is logged as JSON too; with
    // bufferLogs and useLogger, Nest printed those lines in its own coloured text format.
    // rawBody: payment webhooks are signed over the exact bytes received (request.rawBody).
    // bodyParser: false leaves out Nest's form parser; only the JSON one is registered below.
    { logger: nestLogger(rootLogger), rawBody: true, bodyParser: false },
  );
  const fastify = app.getHttpAdapter().getInstance();
  // The API takes JSON bodies only (uploads: multipart). Other types get a 415 problem rather than a form or a bare
  // string that validation would read as something else.
  app.useBodyParser('application/json', {}, jsonBodyParser(fastify));
  app.enableVersioning({ type: VersioningType.URI, defaultVersion: '1' });
  fastify.removeContentTypeParser('text/plain');
  registerOtherBodyTypes(fastify);
  fastify.server.on('checkExpectation', expectationFailed.bind(fastify));
  fastify.server.on('connect', connectRefused.bind(fastify));
  fastify.server.on('connection', keepPeerAddress);
  // First, so that its onSend hook runs before any other.
  registerRequestDeadlines(fastify, config);
  closeWaitingConnections(fastify, config);
  refuseWhileClosing(fastify);
  refuseMissingHost(fastify);
  if (config.role === 'worker') serveProbesOnly(fastify);
  const registry = app.get<Registry>(METRICS_REGISTRY);
  await registerOverloadProtection(fastify, config, registry);
  if (config.metrics.httpEnabled) registerHttpMetrics(fastify, registry, app.get(RequestStats));
  await registerHttpHooks(fastify, config, app.get(ReadinessState));
  app.enableCors(corsOptions(config));
  // Streams multipart parts to handlers (MediaController); nothing is buffered whole.
  await app.register(multipart, { limits: { fileSize: config.media.maxBytes, files: 1 } });
  refuseMultipartOutsideUploads(fastify);
  readContentEncoding(fastify);
  setupOpenApi(app);
  return app;
}
