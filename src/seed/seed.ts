import { NestFactory } from '@nestjs/core';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { processEnv } from '../config/env.js';
import { DemoSeeder } from './demo-seeder.js';
import { SeedModule } from './seed.module.js';

/** `npm run seed -- --profiles 10000 [--seed 42]`: demo accounts and profiles in the configured MongoDB. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { profiles: { type: 'string', default: '10000' }, seed: { type: 'string', default: '42' } },
  });
  const count = Number(values.profiles);
  if (!Number.isInteger(count) || count < 1 || count > 5_000_000) {
    throw new ConfigError('--profiles must be an integer between 1 and 5000000');
  }
  const app = await NestFactory.createApplicationContext(SeedModule.forRoot(loadConfig(processEnv())), {
    logger: ['log', 'warn', 'error'],
  });
  try {
    await app.get(DemoSeeder).seed(count, Number(values.seed));
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String((error as Error).stack ?? error)}\n`);
  process.exit(1);
});
