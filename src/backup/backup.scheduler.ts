import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bull';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { runRecurring, stopRecurring } from '../queues/recurring-job.js';
import { BackupRunningError, BackupService } from './backup.service.js';

export const BACKUPS_QUEUE = 'backups';

/** Tries of one firing: enough to outlast a lease left by a worker killed during the backup, and a rollout. */
export const SCHEDULED_BACKUP_ATTEMPTS = 5;

/**
 * Bull counts a run taken up again after its worker died (stalled: its lock ran out) apart from its attempts, and fails
 * the job for good once that happened more than `maxStalledCount` times (1 by default), attempts left or not: a firing
 * whose worker died twice (during a rollout, say) was lost although four of its tries were left. Each death may cost
 * a try, as a failure does.
 */
export const BACKUPS_QUEUE_SETTINGS = { maxStalledCount: SCHEDULED_BACKUP_ATTEMPTS };

/**
 * Workers run the backup on BACKUP_CRON (UTC). Bull keeps one schedule for all instances and hands
 * each firing to one worker. A firing that fails, or meets the backup lock held, is tried again one lease
 * (plus a margin) later, up to SCHEDULED_BACKUP_ATTEMPTS times: a worker killed mid-backup leaves a lock that
 * is still live when Bull's stalled-job check re-runs the firing (30 to 60 s later), and taken over once its
 * lease has run out. A retry finding that a backup has succeeded since the firing (one from the API or the
 * CLI) does nothing more.
 */
@Injectable()
export class BackupScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(BackupScheduler.name);

  constructor(
    @InjectQueue(BACKUPS_QUEUE) private readonly queue: Queue,
    private readonly backups: BackupService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    // Switched off after running: the old schedule would go on firing, its runs waiting for a processor.
    if (!this.config.backup.scheduleEnabled) return stopRecurring(this.queue, 'backup', this.logger);
    const handler = async (job: Job) => {
      // A repeatable job is made at the firing before it, with the delay until its own: the sum is when it fired.
      const firedAt = new Date(job.timestamp + (job.opts.delay ?? 0));
      if (await this.backups.runs.succeededSince(firedAt)) {
        this.logger.log('Scheduled backup not needed: a backup has succeeded since the schedule fired');
        return;
      }
      try {
        const run = await this.backups.run('schedule');
        if (run.status === 'failed') throw new Error(`Backup ${run._id} failed: ${run.error}`);
      } catch (error) {
        if (!(error instanceof BackupRunningError)) throw error;
        throw new Error('Scheduled backup waits: another backup or a restore holds the lock', { cause: error });
      }
    };
    const retry = { attempts: SCHEDULED_BACKUP_ATTEMPTS, delayMs: this.config.backup.lockLeaseMs + 5_000 };
    runRecurring(this.queue, { name: 'backup', cron: this.config.backup.cron, handler, retry }, this.logger);
  }
}
