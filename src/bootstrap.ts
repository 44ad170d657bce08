import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import type { AppConfig } from './config/app-config.js';
import { exitOnSignalWhileStarting, installGracefulShutdown } from './lifecycle/graceful-shutdown.js';

/** Builds and starts the service; `afterClose` runs once the app has closed on a signal (flushes traces). */
export async function bootstrap(config: AppConfig, afterClose?: () => Promise<void>): Promise<void> {
  const logger = new Logger('Bootstrap');
  const starting = exitOnSignalWhileStarting();
  const app = await createApp(config);
  try {
    // The modules' start hooks: the unique indexes, the first admin, the schedules, the metrics server
    // (MetricsServer.onApplicationBootstrap). A signal until they are done still exits at once: Nest's close does not
    // wait for them, so a graceful shutdown closed MongoDB and Redis under them and the process exited 1 with
    // "cannot build the unique index".
    await app.init();
    starting();
    installGracefulShutdown(app, config.shutdown, afterClose);
    await app.listen({ port: config.http.port, host: '0.0.0.0' });
  } catch (error) {
    // A port taken (EADDRINUSE) or not allowed: said in one JSON line, as other start-up failures are, instead of
    // Node's stack trace for the rejection, which a log pipeline splits into lines of no level.
    logger.error(`Could not start listening: ${(error as Error).message}`);
    process.exit(1);
  }
  logger.log(`Vesta API (${config.role}) listening on :${config.http.port}`);
}
