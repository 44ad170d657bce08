import { Logger } from '@nestjs/common';
import { createApp } from './app.factory.js';
import { ConfigError, loadConfig, type AppConfig } from './config/app-config.js';
import { processEnv } from './config/env.js';
import { installGracefulShutdown } from './lifecycle/graceful-shutdown.js';

function readConfig(): AppConfig {
  try {
    return loadConfig(processEnv());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One line naming the variable, nothing else: the operator's first read of a crash loop.
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  const config = readConfig();
  const app = await createApp(config);
  installGracefulShutdown(app, config.shutdown);
  await app.listen({ port: config.http.port, host: '0.0.0.0' });
  new Logger('Bootstrap').log(`Vesta API (${config.role}) listening on :${config.http.port}`);
}

await bootstrap();
