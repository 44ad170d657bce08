import { Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { constants } from 'node:os';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { processEnv } from '../config/env.js';
import { assertMongoUri } from '../config/mongo-uri.js';
import { nestLogger } from '../logging/nest-logger.js';
import { createRootLogger } from '../logging/root-logger.js';
import { BackupCliModule } from './backup-cli.module.js';
import { LocalBackupStorage } from './backup-storage.js';
import { BackupService } from './backup.service.js';
import { cacheUntouched, clearCacheAfterRestore } from './cache-after-restore.js';
import { parseCliArgs } from './cli-args.js';

const USAGE = `Usage:
  npm run backup                                          back up MONGODB_URI's database into BACKUP_DIR
  npm run backup -- --list                                list complete backups
  npm run backup -- --verify <id>                         restore <id> into a scratch database, compare, drop it
  npm run restore -- <id> [--target-db <name>] [--drop] [--despite-failed-verification]
                                                          restore <id> (default target: the database the backup was
                                                          taken from, as its manifest names it); --drop replaces the
                                                          target's collections. Refused while a backup runs, and for a
                                                          backup whose verification failed unless
                                                          --despite-failed-verification. Clears the API cache in Redis
                                                          afterwards when the target is MONGODB_URI's database.`;

const logger = new Logger('BackupCli');

/**
 * JSON lines like the API's, on stderr, so stdout carries only the JSON result (for scripts and CronJob logs alike).
 * Written at once: the CLI logs little, and its exits must not wait for a flush.
 */
function stderrLogger(level: string) {
  return nestLogger(createRootLogger(level, pino.destination({ dest: 2, sync: true })));
}

/** Set by a SIGTERM or SIGINT: 128 + the signal's number, as a shell reports a process a signal ended. */
let signalExitCode: number | undefined;

/**
 * The cache clearing after a restore that has written everything, which a signal lets finish: bounded by the Redis
 * timeouts, it is what keeps the API from serving the replaced data, and its end prints the restore's result. A
 * signal used to exit in the middle of it, with nothing on stdout: the operator was told neither that the restore
 * was done nor that the cache might still hold the old data.
 */
let finishing: Promise<unknown> | undefined;

/**
 * SIGTERM (the CronJob's pod deleted, its deadline passed, a node drained) or Ctrl-C closes the app, and its shutdown
 * stops the backup or restore in progress: the run is recorded as failed ("interrupted: the process shut down") and
 * the lock released, so the next backup can start at once instead of one lease later. Without this Node died of the
 * signal, leaving the run "running" and the lock held until its lease ran out. main() then ends as for any failure,
 * printing what happened, and exits with the signal's code. Returns the close, which main() shares.
 */
function closeOnSignal(app: INestApplicationContext): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalExitCode !== undefined) {
      logger.warn(`Second ${signal}: exiting now`);
      process.exit(signalExitCode);
    }
    signalExitCode = 128 + constants.signals[signal];
    logger.warn(
      finishing
        ? `${signal} received: the restore has finished; clearing the API cache, then exiting`
        : `${signal} received: stopping`,
    );
    // main() exits in the microtasks that follow the close; this is for a main() still waiting on something else.
    const exit = () => setImmediate(() => process.exit(signalExitCode));
    void close()
      .then(() => finishing)
      .then(exit, exit);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return close;
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
  // Read from BACKUP_DIR alone, before MongoDB is connected: the runbook's first step lists backups, often because the
  // database is gone, and a connection that cannot be made failed the listing after the server selection timeout.
  if (command.kind === 'list') {
    process.stdout.write(`${(await new LocalBackupStorage(config.backup.dir).list()).join('\n')}\n`);
    return 0;
  }
  assertMongoUri(config.mongo.uri);
  const app = await NestFactory.createApplicationContext(BackupCliModule.forRoot(config), {
    logger: stderrLogger(config.log.level),
  });
  const close = closeOnSignal(app);
  try {
    const backups = app.get(BackupService);
    if (command.kind === 'restore') {
      const { id } = command;
      const target = command.targetDb ?? (await backups.manifest(id)).database;
      const { drop, despiteFailedVerification } = command;
      const restored = await backups.restore(id, target, { drop, despiteFailedVerification });
      const cache =
        target === backups.databaseName
          ? await (finishing = clearCacheAfterRestore(config.redis, logger))
          : cacheUntouched(target, backups.databaseName);
      if (!cache.cleared && !cache.skipped) {
        logger.warn(`Restored, but the API cache was not cleared (${cache.error}): restart the API instances`);
      }
      const result = { restored: id, into: target, documents: restored, cache };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    }
    if (command.kind === 'verify') {
      const outcome = await backups.verifyHoldingLock(command.id);
      process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
      return outcome.status === 'passed' ? 0 : 1;
    }
    const run = await backups.run('cli');
    process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    return run.status === 'succeeded' && run.verify?.status !== 'failed' ? 0 : 1;
  } finally {
    await close();
  }
}

main().then(
  (code) => process.exit(signalExitCode ?? code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
    process.exit(signalExitCode ?? 1);
  },
);
