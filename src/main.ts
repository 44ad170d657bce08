import { ConfigError, loadConfig, type AppConfig } from './config/app-config.js';
import { processEnv } from './config/env.js';
import { startTracing } from './tracing.js';

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

const config = readConfig();
// Tracing must start before Nest, Fastify, mongoose and ioredis load, so the app is imported only now.
const stopTracing = await startTracing(config.tracing);
// The driver's parse of MONGODB_URI, only now that tracing runs (mongo-uri.ts), said as the schema's problems are.
const { assertMongoUri } = await import('./config/mongo-uri.js');
try {
  assertMongoUri(config.mongo.uri);
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
}
const { bootstrap } = await import('./bootstrap.js');
await bootstrap(config, stopTracing);
