import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { genericProblem, PROBLEM_CONTENT_TYPE } from '../common/problem/problem-details.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { METRICS_REGISTRY } from './metrics.constants.js';

/**
 * Serves GET (and HEAD) /metrics on its own port so Prometheus scrapes never reach the public listener
 * (and the public API never exposes internals).
 */
@Injectable()
export class MetricsServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetricsServer.name);
  private server?: Server;

  constructor(
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    @InjectConfig() private readonly config: AppConfig,
    private readonly steps: ShutdownSteps,
  ) {}

  get port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    const server = createServer((request, response) => {
      if (request.url?.split('?')[0] !== '/metrics') {
        sendProblem(request, response, 404, 'Only /metrics is served on this port');
        return;
      }
      // Node's server leaves the body out of a HEAD answer by itself.
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        sendProblem(request, response, 405, `${request.method} is not allowed here; allowed: GET, HEAD`, {
          allow: 'GET, HEAD',
        });
        return;
      }
      this.registry.metrics().then(
        (body) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (error: unknown) => {
          const problem = sendProblem(request, response, 500, 'Collecting metrics failed');
          this.logger.error({ err: error, reqId: problem.requestId }, 'Collecting metrics failed');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.metrics.port, () => resolve());
    });
    this.server = server;
    this.logger.log(`Metrics on :${this.port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await this.steps.close('Metrics server', () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Scrapers keep connections alive; a scrape is cheap to retry, so they need no draining.
      server.closeAllConnections();
      return closed;
    });
  }
}

/** The problem+json answer every error of the API gets (contract), on this bare Node server too. */
function sendProblem(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  detail: string,
  headers: OutgoingHttpHeaders = {},
): { requestId: string } {
  const problem = genericProblem({ url: request.url ?? '/', id: randomUUID() }, status, detail);
  response.writeHead(status, { ...headers, 'content-type': PROBLEM_CONTENT_TYPE }).end(JSON.stringify(problem));
  return problem;
}
