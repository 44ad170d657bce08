import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection, mongo } from 'mongoose';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { InjectConfig } from '../config/config.module.js';
import { withTimeout } from '../common/with-timeout.js';
import type { AppConfig } from '../config/app-config.js';
import { loggableMessage } from '../logging/loggable-error.js';
import { newBackupId } from './backup-id.js';
import { MANIFEST_FILE, totalBytes, totalDocuments, totalOmitted, type BackupManifest } from './backup-manifest.js';
import { BackupRuns, type BackupRun, type BackupTrigger } from './backup-runs.js';
import { LocalBackupStorage, type BackupStorage } from './backup-storage.js';
import { restoreDump, TargetNotEmptyError, verifyFiles } from './dump-restorer.js';
import { writeDump } from './dump-writer.js';
import { BackupNotFoundError, readManifest } from './read-manifest.js';

/** Another backup or a restore holds the lock. */
export class BackupRunningError extends Error {}

/** The backup's last verification failed, and the restore was not told to go ahead despite it. */
export class FailedVerificationError extends Error {}

/** The process shut down during a verification: its outcome says nothing about the backup. */
export class VerificationInterruptedError extends Error {}

const APP_VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

export interface RestoreOptions {
  /** Replace the target's collections (else a target with any is refused). */
  drop: boolean;
  /** Restore a backup whose last verification failed (else refused with FailedVerificationError). */
  despiteFailedVerification?: boolean;
}

/**
 * Backups of the application database: one at a time across all instances, dumped in mongodump's
 * layout into a draft that becomes visible only when complete, then verified by restoring it into a
 * scratch database, and only then old ones removed. A restore takes the same lock.
 */
@Injectable()
export class BackupService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(BackupService.name);
  /** The lock holders of this process (a backup run's id, a restore's name), each with the work that ends its hold. */
  private readonly holding = new Map<string, Promise<unknown>>();
  /** Verifications in progress (they hold no lock), by what the shutdown log calls them. */
  private readonly verifying = new Map<string, Promise<unknown>>();
  /** Aborted when the process shuts down: stops the dump, restore or verification in progress. */
  private readonly shutdown = new AbortController();
  readonly storage: BackupStorage;
  readonly runs: BackupRuns;
  private readonly db: mongo.Db;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.db = connection.db!;
    this.storage = new LocalBackupStorage(config.backup.dir);
    this.runs = new BackupRuns(
      this.db.collection('backup_runs'),
      this.db.collection('backup_lock'),
      config.backup.lockLeaseMs,
    );
  }

  /** The database this process serves and backs up (MONGODB_URI's), which the API's cache describes. */
  get databaseName(): string {
    return this.db.databaseName;
  }

  /**
   * Takes the lock and starts a backup. Resolves with the new run record at once and with `done`,
   * which settles when the backup, verification and retention are over (never rejects: failures are
   * recorded on the run). Throws BackupRunningError when another backup holds the lock.
   */
  async begin(trigger: BackupTrigger): Promise<{ run: BackupRun; done: Promise<BackupRun> }> {
    const id = newBackupId();
    const starting = this.startRun(id, trigger);
    // A holder from before the lock is asked for: a shutdown while that write or the run record is in flight waits for
    // them, then stops the backup, which records it and frees the lock. Counted only once started, the process exited
    // with the lock just taken, held for its whole lease, and the run "running".
    const done = this.hold(
      id,
      starting.then(({ run, lockedAt }) => this.execute(run, lockedAt)),
    );
    // A start that fails is thrown below; `done` fails with it too, and nobody awaits it then.
    done.catch(() => undefined);
    return { run: (await starting).run, done };
  }

  /** Takes the lock and records the run. */
  private async startRun(id: string, trigger: BackupTrigger): Promise<{ run: BackupRun; lockedAt: number }> {
    const lockedAt = await this.takeLock(id, 'A backup or a restore is already running');
    const run: BackupRun = { _id: id, trigger, status: 'running', startedAt: new Date() };
    try {
      await this.runs.start(run);
    } catch (error) {
      await this.runs.unlock(id);
      throw error;
    }
    return { run, lockedAt };
  }

  /** Starts a backup and waits for it (the schedule and the CLI). */
  async run(trigger: BackupTrigger): Promise<BackupRun> {
    return (await this.begin(trigger)).done;
  }

  /**
   * A shutdown (SIGTERM to a worker or to the CLI) does not wait for a backup or a restore to finish: it can take
   * longer than any grace period. It stops the one in progress, which then ends as a lock that is lost does: a backup
   * is recorded as failed ("interrupted: the process shut down") and its draft removed, a restore stops between
   * writes. Either releases the lock, so the next one need not wait for the lease to run out. A verification stops
   * too and drops its scratch database while the connection is still open. When that takes longer than
   * SHUTDOWN_STEP_TIMEOUT_MS (a database that stopped answering), the record and the lock are seen to here.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.holding.size && !this.verifying.size) return;
    this.logger.warn(`Shutdown: stopping ${[...this.holding.keys(), ...this.verifying.keys()].join(', ')}`);
    this.shutdown.abort(new Error('interrupted: the process shut down'));
    const ms = this.config.shutdown.stepTimeoutMs;
    const work = [...this.holding.values(), ...this.verifying.values()];
    await withTimeout(Promise.allSettled(work), ms).catch(() => undefined);
    for (const holder of this.holding.keys()) {
      this.logger.warn(`${holder} did not stop within ${ms} ms: releasing its lock`);
      const release = async () => {
        await this.runs.interrupted(holder, 'interrupted: the process shut down');
        await this.runs.unlock(holder);
      };
      // Bounded too: a database that does not answer must not hold the exit; the lease then frees the lock.
      await withTimeout(release(), ms).catch((error: Error) =>
        this.logger.warn(`${holder} keeps the lock until its lease ends: ${error.message}`),
      );
    }
  }

  /** Keeps `holder` among this process' lock holders until `work` settles. */
  private hold<T>(holder: string, work: Promise<T>): Promise<T> {
    const tracked = work.finally(() => this.holding.delete(holder));
    this.holding.set(holder, tracked);
    return tracked;
  }

  private async execute(run: BackupRun, lockedAt: number): Promise<BackupRun> {
    const lease = this.holdLock(run._id, lockedAt);
    const stop = AbortSignal.any([lease.signal, this.shutdown.signal]);
    try {
      const manifest = await this.dump(run, stop);
      // A holder that lost the lock must not call its run a success nor remove backups beside the run that took over.
      stop.throwIfAborted();
      await this.runs.update(run._id, {
        status: 'succeeded',
        finishedAt: new Date(manifest.finishedAt),
        durationMs: Date.parse(manifest.finishedAt) - run.startedAt.getTime(),
        sizeBytes: totalBytes(manifest),
        documents: totalDocuments(manifest),
        collections: manifest.collections.length,
      });
      this.logger.log(
        `Backup ${run._id} written: ${totalDocuments(manifest)} documents, ${totalBytes(manifest)} bytes`,
      );
      const omitted = totalOmitted(manifest);
      if (omitted > 0) {
        this.logger.warn(
          `Backup ${run._id} left out ${omitted} documents of uploads under way when it read them: GridFS file ` +
            'records (chunks missing from the dump, or no hash yet), which the next one holds, or pending-write ' +
            'records of uploads it holds whole',
        );
      }
      if ((await this.usable(run._id)) && !stop.aborted) await this.retainAfter(run._id);
    } catch (error) {
      // The dump's streams report an abort as "The operation was aborted"; the signal says why.
      const message = ((stop.aborted ? stop.reason : error) as Error).message;
      this.logger.error(`Backup ${run._id} failed: ${message}`);
      await this.runs
        .update(run._id, { status: 'failed', error: message, finishedAt: new Date() })
        .catch(() => undefined);
    } finally {
      lease.release();
      await this.runs.unlock(run._id).catch(() => undefined);
    }
    return (await this.runs.find(run._id).catch(() => null)) ?? run;
  }

  /**
   * The lease's heartbeat: a live holder renews the lock four times a lease, so a renewal or two may fail (a slow
   * database) without losing it; a holder that died stops, and its lock can be taken over one lease later. A holder
   * that finds the lock taken over, or whose renewals have all failed for a whole lease (so it may have been), is
   * aborted through the signal: two backups, or a backup beside a restore, must not run at once.
   */
  private holdLock(holder: string, lockedAt: number): { signal: AbortSignal; release: () => void } {
    const lost = new AbortController();
    let released = false;
    // The lease runs from when the lock was asked for, then from when each renewal was sent (their `until` is computed
    // then), not from when an answer came back: the steps between taking the lock and holding it here (a slow run
    // record) must not make this holder count on more lease than the database gives it.
    let leaseFrom = lockedAt;
    const stop = (why: string) => {
      if (released || lost.signal.aborted) return;
      this.logger.error(`${holder} lost the backup lock: ${why}`);
      lost.abort(new Error(`${holder} lost the backup lock (${why}): stopped`));
    };
    const renew = async () => {
      // Checked before waiting: a renewal that hangs must not hide a lease that has already run out.
      if (Date.now() - leaseFrom >= this.runs.leaseMs) return stop('no renewal confirmed for a whole lease');
      const sentAt = Date.now();
      const held = await this.runs.renewLock(holder).catch(() => undefined);
      if (held) leaseFrom = sentAt;
      else if (held === false) stop('it was taken over');
    };
    const heartbeat = setInterval(() => void renew(), this.runs.leaseMs / 4);
    heartbeat.unref();
    return {
      signal: lost.signal,
      release: () => {
        released = true;
        clearInterval(heartbeat);
      },
    };
  }

  /**
   * Whether backup `id` may stand in for the older ones: verified, or BACKUP_VERIFY=false. A backup that
   * failed verification removes nothing, so the backups that last verified stay however old they are. One whose
   * verification a shutdown stopped stays succeeded and unverified, as with BACKUP_VERIFY=false, and removes nothing.
   */
  private async usable(id: string): Promise<boolean> {
    if (!this.config.backup.verify) return true;
    const outcome = await this.verify(id).catch((error: Error) => {
      if (!(error instanceof VerificationInterruptedError)) throw error;
      this.logger.warn(`${error.message}; retention skipped`);
      return undefined;
    });
    if (outcome?.status === 'passed') return true;
    if (outcome) this.logger.warn(`Retention skipped: backup ${id} failed verification, older backups are kept`);
    return false;
  }

  /**
   * Retention after a usable backup. Its failure (a file that cannot be removed) is recorded on the run
   * and logged, but the run stays succeeded: the new backup is whole and verified.
   */
  private async retainAfter(id: string): Promise<void> {
    try {
      const removed = await this.applyRetention(id);
      await this.runs.update(id, { retention: { status: 'done', at: new Date(), removed } });
    } catch (error) {
      const message = (error as Error).message;
      this.logger.error(`Retention after backup ${id} failed: ${message}`);
      await this.runs
        .update(id, { retention: { status: 'failed', at: new Date(), error: message } })
        .catch(() => undefined);
    }
  }

  /**
   * Drafts of runs that ended without committing, removed while this process holds the lock. An hour old at least, and
   * four leases: a holder that lost the lock stops within one, so none is still writing them. A draft's age is its
   * folder's, set when its backup began: with a day, as until 2026-12-06, last night's draft was a few seconds short of
   * it at the next nightly backup, and only the one before was removed.
   */
  private removeAbandonedDrafts(): Promise<number> {
    return this.storage.removeAbandonedDrafts(Math.max(4 * this.runs.leaseMs, HOUR_MS));
  }

  private async dump(run: BackupRun, signal: AbortSignal): Promise<BackupManifest> {
    // Before every backup, not only after one that verified: the drafts of backups killed night after night (out of
    // memory, SIGKILL) would otherwise fill the volume, and a full volume fails every backup, so none ever removed them.
    await this.removeAbandonedDrafts().catch((error: Error) =>
      this.logger.warn(`Abandoned backup drafts not removed: ${error.message}`),
    );
    const draft = await this.storage.begin(run._id);
    try {
      const collections = await writeDump(this.db, draft, signal);
      const manifest: BackupManifest = {
        id: run._id,
        database: this.db.databaseName,
        appVersion: APP_VERSION,
        startedAt: run.startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        collections,
      };
      const file = await draft.create(MANIFEST_FILE);
      await new Promise<void>((resolve, reject) =>
        Readable.from([JSON.stringify(manifest, null, 2)])
          .pipe(file)
          .on('finish', resolve)
          .on('error', reject),
      );
      // Not committed once the lock is lost: a listed backup is one whose run held the lock to the end.
      signal.throwIfAborted();
      await draft.commit();
      return manifest;
    } catch (error) {
      await draft.abort().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Removes complete backups older than BACKUP_RETENTION_DAYS except `keep` (the backup just taken and
   * verified), and drafts a crashed process left behind. Runs only after a usable backup, so a failing
   * backup (a full disk, a damaged file) never costs an older one.
   */
  async applyRetention(keep: string, now = Date.now()): Promise<string[]> {
    const ids = await this.storage.list();
    const cutoff = now - this.config.backup.retentionDays * DAY_MS;
    const removed: string[] = [];
    for (const id of ids) {
      if (id === keep) continue;
      const manifest = await this.manifest(id).catch(() => null);
      // Kept unless its age is known to be past the cutoff: a manifest damaged or edited by hand ("finishedAt" not a
      // date, NaN) says nothing of it.
      if (!manifest || !(Date.parse(manifest.finishedAt) < cutoff)) continue;
      await this.storage.remove(id);
      await this.runs.update(id, { deletedAt: new Date(now) });
      removed.push(id);
    }
    await this.removeAbandonedDrafts();
    if (removed.length) this.logger.log(`Retention removed ${removed.length} backups: ${removed.join(', ')}`);
    return removed;
  }

  /**
   * Restores backup `id` into a scratch database, compares it with the manifest, drops it, records the outcome.
   * Stopped by a shutdown, it records nothing (the backup is not at fault) and throws VerificationInterruptedError.
   */
  async verify(id: string, stop: AbortSignal = this.shutdown.signal): Promise<NonNullable<BackupRun['verify']>> {
    // Not derived from the database's name: with a suffix, a long name passes the 63-byte limit that
    // MongoDB and FerretDB both put on database names.
    const scratch = this.connection.getClient().db(`vesta_verify_${randomBytes(6).toString('hex')}`);
    const name = `verification of ${id} in ${scratch.databaseName}`;
    const work = this.verifyIn(id, scratch, stop);
    this.verifying.set(name, work);
    return work.finally(() => this.verifying.delete(name));
  }

  /**
   * verify() for an operator (the CLI's --verify): under the backup lock, so that no backup's retention removes the
   * backup while it is read, and no restore replaces the data beside it; stopped if the lock is lost. Throws
   * BackupRunningError while either runs.
   */
  verifyHoldingLock(id: string): Promise<NonNullable<BackupRun['verify']>> {
    const busy = 'A backup or a restore is running: verify again once it has finished';
    return this.underLock('verify', busy, (stop) => this.verify(id, stop));
  }

  private async verifyIn(id: string, scratch: mongo.Db, stop: AbortSignal): Promise<NonNullable<BackupRun['verify']>> {
    const started = Date.now();
    let outcome: NonNullable<BackupRun['verify']>;
    try {
      const manifest = await this.checkedManifest(id, stop);
      await restoreDump(scratch, this.storage, manifest, { drop: false }, stop);
      outcome = { status: 'passed', at: new Date(), durationMs: Date.now() - started };
    } catch (error) {
      // No such backup (a mistyped id at the CLI): nothing was verified, so nothing failed, and there is no run to
      // record it on. Thrown, as a restore of that id throws it, rather than reported as a failed verification.
      if (error instanceof BackupNotFoundError) throw error;
      if (stop.aborted) {
        const reason = (stop.reason as Error).message;
        throw new VerificationInterruptedError(`Verification of backup ${id} ${reason}; nothing recorded`, {
          cause: error,
        });
      }
      const message = (error as Error).message;
      outcome = { status: 'failed', at: new Date(), durationMs: Date.now() - started, error: message };
      // MongoDB's E11000 quotes the duplicated values (a member's email): the log gets the index, not them.
      this.logger.error(`Verification of backup ${id} failed: ${loggableMessage(message)}`);
    } finally {
      await scratch.dropDatabase().catch(() => undefined);
    }
    await this.runs.update(id, { verify: outcome });
    return outcome;
  }

  /**
   * Checks every file first (a damaged backup touches nothing), then restores into database `target`.
   * Holds the backup lock throughout: a backup dumping a database that is being replaced would be
   * neither the old data nor the new. Throws BackupRunningError while a backup or restore runs, and
   * FailedVerificationError for a backup whose last verification failed unless `despiteFailedVerification`.
   */
  restore(id: string, target: string, options: RestoreOptions): Promise<Record<string, number>> {
    const busy = 'A backup or another restore is running: restore again once it has finished';
    return this.underLock('restore', busy, (stop) => this.restoreHolding(id, target, options, stop));
  }

  /**
   * Runs `work` holding the backup lock under a new holder name starting with `prefix`, its signal aborted by a
   * shutdown or by the loss of the lock, and releases the lock after. Throws BackupRunningError(`busy`) when another
   * holds it. (A backup takes the lock in begin() and holds it in execute(), whose run record outlives the call.)
   */
  private underLock<T>(prefix: string, busy: string, work: (stop: AbortSignal) => Promise<T>): Promise<T> {
    const holder = `${prefix}-${randomBytes(4).toString('hex')}`;
    // A holder from before the lock is asked for, as in begin(): a shutdown while the write is in flight waits for it,
    // then `work` starts stopped and the lock is freed. Counted once taken, the lock outlived the process by a lease.
    return this.hold(holder, this.runLocked(holder, busy, work));
  }

  /** underLock()'s work: takes the lock, runs `work` under it, releases it. */
  private async runLocked<T>(holder: string, busy: string, work: (stop: AbortSignal) => Promise<T>): Promise<T> {
    const lockedAt = await this.takeLock(holder, busy);
    const lease = this.holdLock(holder, lockedAt);
    try {
      return await work(AbortSignal.any([lease.signal, this.shutdown.signal]));
    } finally {
      lease.release();
      await this.runs.unlock(holder).catch(() => undefined);
    }
  }

  /**
   * Takes the backup lock for `holder` or throws BackupRunningError(`busy`, with whose lease the lock is and until when);
   * returns when it was asked for. After a process killed outright (SIGKILL, out of memory) nothing runs until the lease
   * ends, yet "running" was all an operator was told.
   */
  private async takeLock(holder: string, busy: string): Promise<number> {
    const askedAt = Date.now();
    if (await this.runs.tryLock(holder)) return askedAt;
    const lock = await this.runs.currentLock().catch(() => null);
    if (!lock) throw new BackupRunningError(busy);
    throw new BackupRunningError(
      `${busy} (the lock is held by ${lock.runId} until ${lock.until.toISOString()}, renewed while it runs; ` +
        'if that process was killed, the lock is free from then)',
    );
  }

  private async restoreHolding(
    id: string,
    target: string,
    options: RestoreOptions,
    stop: AbortSignal,
  ): Promise<Record<string, number>> {
    // Until the restore's first write the target is untouched; from then on a failure can leave it partly restored.
    // Not from the end of the checks: a stop or a failure while it looked at the target (one with data, refused
    // without --drop) was told to run again with --drop, which replaced the data it had refused to touch.
    let writing = false;
    try {
      if (!options.despiteFailedVerification) await this.refuseFailedVerification(id, target);
      const manifest = await this.checkedManifest(id, stop);
      const restored = await restoreDump(
        this.connection.getClient().db(target),
        this.storage,
        manifest,
        { drop: options.drop, beforeFirstWrite: () => (writing = true) },
        stop,
      );
      stop.throwIfAborted(); // lost during the last indexes or counts
      return restored;
    } catch (error) {
      if (!stop.aborted && (!writing || error instanceof TargetNotEmptyError)) throw error;
      // Say why it stopped (the streams report an abort as "The operation was aborted") and what state the target is in.
      const reason = ((stop.aborted ? stop.reason : error) as Error).message;
      const state = writing ? 'may be partly restored: run the restore again with --drop' : 'is untouched';
      throw new Error(`${reason}; ${target} ${state}`, { cause: error });
    }
  }

  /**
   * A backup whose verification failed is refused before anything is read: its files check out (they are what was
   * dumped), so its restore would most likely stop where the verification did (a duplicate key, say), with the
   * target's collections dropped and half of the backup in their place. Its record is in this process's database;
   * a backup without one (the database lost, or another's backup) is not refused.
   */
  private async refuseFailedVerification(id: string, target: string): Promise<void> {
    const verify = (await this.runs.find(id))?.verify;
    if (verify?.status !== 'failed') return;
    throw new FailedVerificationError(
      `Backup ${id} failed its verification at ${verify.at.toISOString()} (${loggableMessage(verify.error ?? '')}): ` +
        `restoring it would most likely stop at the same point, leaving ${target} partly restored. Restore an ` +
        `earlier backup, verify this one again (--verify ${id}), or pass --despite-failed-verification`,
    );
  }

  /** The manifest of backup `id`, once every file it lists has been read and checked against it. */
  private async checkedManifest(id: string, signal: AbortSignal): Promise<BackupManifest> {
    const manifest = await this.manifest(id);
    await verifyFiles(this.storage, manifest, signal);
    return manifest;
  }

  manifest(id: string): Promise<BackupManifest> {
    return readManifest(this.storage, id);
  }
}
