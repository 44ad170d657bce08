import { NestFactory } from '@nestjs/core';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { processEnv } from '../config/env.js';
import { assertMongoUri } from '../config/mongo-uri.js';
import { DemoSeeder } from './demo-seeder.js';
import { parseSeedArgs, SEED_USAGE } from './seed-args.js';
import { SeedModule } from './seed.module.js';

/** `npm run seed -- --profiles 10000 [--seed 42]`: demo accounts and profiles in the configured MongoDB. */
async function main(): Promise<void> {
  const command = parseSeedArgs(process.argv.slice(2));
  if (command.kind === 'help') {
    process.stdout.write(`${SEED_USAGE}\n`);
    return;
  }
  const config = loadConfig(processEnv());
  assertMongoUri(config.mongo.uri);
  const app = await NestFactory.createApplicationContext(SeedModule.forRoot(config), {
    logger: ['log', 'warn', 'error'],
  });
  try {
    await app.get(DemoSeeder).seed(command.profiles, command.seed);
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String((error as Error).stack ?? error)}\n`);
  process.exit(1);
});
