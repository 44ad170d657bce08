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
  until: Date;
}

/** A lock that a crashed holder stops renewing expires after this long. */
export const LOCK_TTL_MS = 5 * 60 * 1000;

/**
 * The run records and the lock that lets one backup or restore run at a time across every instance and
 * the CLI. The lock is a document in MongoDB (the CLI has no Redis): taking it inserts `_id: 'backup'`,
 * which the unique `_id` lets only one caller do; a holder renews it while it works and deletes it
 * when done, and an expired one can be taken over.
 */
export class BackupRuns {
  constructor(
    private readonly runs: mongo.Collection<BackupRun>,
    private readonly locks: mongo.Collection<BackupLock>,
  ) {}

  async tryLock(runId: string): Promise<boolean> {
    const now = Date.now();
    try {
      await this.locks.updateOne(
        { _id: 'backup', until: { $lt: new Date(now) } },
        { $set: { runId, until: new Date(now + LOCK_TTL_MS) } },
        { upsert: true },
      );
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  renewLock(runId: string): Promise<unknown> {
    return this.locks.updateOne({ _id: 'backup', runId }, { $set: { until: new Date(Date.now() + LOCK_TTL_MS) } });
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

  lastSucceeded(): Promise<BackupRun | null> {
    return this.runs.find({ status: 'succeeded' }).sort({ startedAt: -1 }).limit(1).next();
  }
}
