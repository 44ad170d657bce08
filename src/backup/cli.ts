import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { processEnv } from '../config/env.js';
import { nestLogger } from '../logging/nest-logger.js';
import { createRootLogger } from '../logging/root-logger.js';
import { BackupCliModule } from './backup-cli.module.js';
import { BackupService } from './backup.service.js';
import { cacheUntouched, clearCacheAfterRestore } from './cache-after-restore.js';
import { parseCliArgs } from './cli-args.js';

const USAGE = `Usage:
  npm run backup                                          back up MONGODB_URI's database into BACKUP_DIR
  npm run backup -- --list                                list complete backups
  npm run backup -- --verify <id>                         restore <id> into a scratch database, compare, drop it
  npm run restore -- <id> [--target-db <name>] [--drop]   restore <id> (default target: the database the backup was
                                                          taken from, as its manifest names it); --drop replaces the
                                                          target's collections. Refused while a backup runs. Clears
                                                          the API cache in Redis afterwards when the target is
                                                          MONGODB_URI's database.`;

const logger = new Logger('BackupCli');

/**
 * JSON lines like the API's, on stderr, so stdout carries only the JSON result (for scripts and CronJob logs alike).
 * Written at once: the CLI logs little, and its exits must not wait for a flush.
 */
function stderrLogger(level: string) {
  return nestLogger(createRootLogger(level, pino.destination({ dest: 2, sync: true })));
}

/**
 * The backup CLI, for a Kubernetes CronJob or an operator at a shell. It shares the lock with the API,
 * so it never runs beside a scheduled backup. Exit code 0 only when the operation succeeded.
 */
async function main(): Promise<number> {
  const command = parseCliArgs(process.argv.slice(2), USAGE);
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig(processEnv());
  const app = await NestFactory.createApplicationContext(BackupCliModule.forRoot(config), {
    logger: stderrLogger(config.log.level),
  });
  try {
    const backups = app.get(BackupService);
    if (command.kind === 'restore') {
      const { id } = command;
      const target = command.targetDb ?? (await backups.manifest(id)).database;
      const restored = await backups.restore(id, target, { drop: command.drop });
      const cache =
        target === backups.databaseName
          ? await clearCacheAfterRestore(config.redis, logger)
          : cacheUntouched(target, backups.databaseName);
      if (!cache.cleared && !cache.skipped) {
        logger.warn(`Restored, but the API cache was not cleared (${cache.error}): restart the API instances`);
      }
      const result = { restored: id, into: target, documents: restored, cache };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    }
    if (command.kind === 'list') {
      process.stdout.write(`${(await backups.storage.list()).join('\n')}\n`);
      return 0;
    }
    if (command.kind === 'verify') {
      const outcome = await backups.verify(command.id);
      process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
      return outcome.status === 'passed' ? 0 : 1;
    }
    const run = await backups.run('cli');
    process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    return run.status === 'succeeded' && run.verify?.status !== 'failed' ? 0 : 1;
  } finally {
    await app.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
    process.exit(1);
  },
);
