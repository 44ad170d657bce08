import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import type { AppConfig } from './config/app-config.js';
import { installGracefulShutdown } from './lifecycle/graceful-shutdown.js';

/** Builds and starts the service; `afterClose` runs once the app has closed on a signal (flushes traces). */
export async function bootstrap(config: AppConfig, afterClose?: () => Promise<void>): Promise<void> {
  const app = await createApp(config);
  installGracefulShutdown(app, config.shutdown, afterClose);
  await app.listen({ port: config.http.port, host: '0.0.0.0' });
  new Logger('Bootstrap').log(`Vesta API (${config.role}) listening on :${config.http.port}`);
}
