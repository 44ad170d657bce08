import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
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
        response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
        return;
      }
      // Node's server leaves the body out of a HEAD answer by itself.
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('Method not allowed\n');
        return;
      }
      this.registry.metrics().then(
        (body) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (error: unknown) => {
          this.logger.error({ err: error }, 'Collecting metrics failed');
          response.writeHead(500, { 'content-type': 'text/plain' }).end('Collecting metrics failed\n');
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
