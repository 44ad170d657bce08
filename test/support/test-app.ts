import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { MetricsServer } from '../../src/metrics/metrics-server.js';

export interface RunningApp {
  app: NestFastifyApplication;
  /** Base URL of the public listener, e.g. http://127.0.0.1:41234 */
  url: string;
  metricsUrl: string;
  close(): Promise<void>;
}

/** Boots the production wiring (createApp) on free ports, as main.ts does. */
export async function startApp(config: AppConfig): Promise<RunningApp> {
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = await app.getUrl();
  const metricsPort = app.get(MetricsServer).port;
  return {
    app,
    url: url.replace('[::1]', '127.0.0.1'),
    metricsUrl: `http://127.0.0.1:${metricsPort}`,
    close: () => app.close(),
  };
}
