import { Logger } from '@nestjs/common';
import type { mongo } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';

export type BackupTrigger = 'schedule' | 'api' | 'cli';

/** What `GET /v1/admin/backups` lists: one record per attempt, in the `backup_runs` collection. */
export interface BackupRun {
  _id: string;
  trigger: BackupTrigger;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: Date;
  finishedAt?: Date;
  durationMs?: number;
  sizeBytes?: number;
  documents?: number;
  collections?: number;
  error?: string;
  verify?: { status: 'passed' | 'failed'; at: Date; durationMs: number; error?: string };
  /**
   * Retention after this backup: it runs only once the backup is verified (or BACKUP_VERIFY=false), and a
   * failure here leaves the backup succeeded: it is whole and verified, only older ones were not removed.
   */
  retention?: { status: 'done' | 'failed'; at: Date; removed?: string[]; error?: string };
  /** Set when retention removed the files. */
  deletedAt?: Date;
}

/**
 * The backups' own state, never dumped and never dropped by a restore: a restored lock would block
 * backups for its lifetime, restored run records would describe runs of another time, and dropping the
 * lock in the middle of a restore would let a backup start beside it.
 */
export const BACKUP_BOOKKEEPING_COLLECTIONS: ReadonlySet<string> = new Set(['backup_lock', 'backup_runs']);

interface BackupLock {
  _id: 'backup';
  runId: string;
  /** End of the lease: the last renewal plus the lease. */
  until: Date;
}

/**
 * The run records and the lock that lets one backup or restore run at a time across every instance and
 * the CLI. The lock is a document in MongoDB (the CLI has no Redis) and a lease: its holder renews it every
 * quarter of `leaseMs` while it works and deletes it when done. A holder that died stops renewing, and once
 * the lease has ended the next run takes the lock over and records the dead holder's run as failed, so a
 * killed scheduled backup delays the next attempt by at most one lease, not the rest of the day.
 */
export class BackupRuns {
  constructor(
    private readonly runs: mongo.Collection<BackupRun>,
    private readonly locks: mongo.Collection<BackupLock>,
    readonly leaseMs: number,
  ) {}

  /**
   * One conditional write: it matches only a lock whose lease has ended (taken over, the old holder returned), and
   * when there is no lock it inserts one; a live lock matches nothing, and the insert then fails on the unique
   * `_id`. So two callers can never both hold it (on MongoDB; FerretDB is not atomic under concurrent writes). A lease
   * end that is no date (edited by hand) has ended: matched only by `$lt` a date, it held the lock for ever, and no
   * backup ran again.
   */
  async tryLock(runId: string): Promise<boolean> {
    const now = new Date();
    let previous: BackupLock | null;
    try {
      previous = await this.locks.findOneAndUpdate(
        { _id: 'backup', until: { $not: { $gte: now } } },
        { $set: { runId, until: new Date(now.getTime() + this.leaseMs) } },
        { upsert: true, returnDocument: 'before' },
      );
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
    // Bookkeeping only: the lock is ours now, and a failure here must not leave it held by a run that never starts.
    if (previous) {
      await this.markAbandoned(previous, now).catch((error: Error) =>
        new Logger(BackupRuns.name).warn(`Run ${previous.runId} stays "running": ${error.message}`),
      );
    }
    return true;
  }

  /** False when the lock is no longer this holder's (it stopped renewing for a whole lease and was taken over). */
  async renewLock(runId: string): Promise<boolean> {
    const renewed = await this.locks.updateOne(
      { _id: 'backup', runId },
      { $set: { until: new Date(Date.now() + this.leaseMs) } },
    );
    return renewed.matchedCount === 1;
  }

  private async markAbandoned(lock: BackupLock, now: Date): Promise<void> {
    const lastRenewal =
      lock.until instanceof Date ? new Date(lock.until.getTime() - this.leaseMs).toISOString() : 'an unknown time';
    await this.runs.updateOne(
      { _id: lock.runId, status: 'running' },
      {
        $set: {
          status: 'failed',
          error: `abandoned: its process stopped renewing the backup lock at ${lastRenewal} (killed or crashed)`,
          finishedAt: now,
        },
      },
    );
  }

  /** Records run `id` as failed with `error` if it is still running (a finished run, or a restore, is left alone). */
  interrupted(id: string, error: string): Promise<unknown> {
    return this.runs.updateOne(
      { _id: id, status: 'running' },
      { $set: { status: 'failed', error, finishedAt: new Date() } },
    );
  }

  /** The lock as it stands: its holder and the end of its lease. */
  currentLock(): Promise<BackupLock | null> {
    return this.locks.findOne({ _id: 'backup' });
  }

  unlock(runId: string): Promise<unknown> {
    return this.locks.deleteOne({ _id: 'backup', runId });
  }

  async start(run: BackupRun): Promise<void> {
    // Whoever held the lock before us is gone: its record must not say "running" for ever.
    await this.runs.updateMany(
      { status: 'running' },
      {
        $set: { status: 'failed', error: 'interrupted: the process stopped during the backup', finishedAt: new Date() },
      },
    );
    await this.runs.insertOne(run);
  }

  update(id: string, changes: Partial<BackupRun>): Promise<unknown> {
    return this.runs.updateOne({ _id: id }, { $set: changes });
  }

  find(id: string): Promise<BackupRun | null> {
    return this.runs.findOne({ _id: id });
  }

  recent(limit: number): Promise<BackupRun[]> {
    return this.runs.find().sort({ startedAt: -1 }).limit(limit).toArray();
  }

  /** Whether a backup started at or after `since` has succeeded (a scheduled firing that another run served). */
  async succeededSince(since: Date): Promise<boolean> {
    return (await this.runs.countDocuments({ status: 'succeeded', startedAt: { $gte: since } })) > 0;
  }

  lastSucceeded(): Promise<BackupRun | null> {
    return this.runs.find({ status: 'succeeded' }).sort({ startedAt: -1 }).limit(1).next();
  }

  /** The last successful backup whose verification has an outcome. */
  lastVerified(): Promise<BackupRun | null> {
    return this.runs
      .find({ status: 'succeeded', verify: { $exists: true } })
      .sort({ startedAt: -1 })
      .limit(1)
      .next();
  }
}
