import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bull';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { runRecurring, stopRecurring } from '../queues/recurring-job.js';
import { BackupRunningError, BackupService } from './backup.service.js';

export const BACKUPS_QUEUE = 'backups';

/**
 * Workers run the backup on BACKUP_CRON (UTC). Bull keeps one schedule for all instances and hands
 * each firing to one worker; the backup lock also stops a firing that meets a running backup (one
 * started from the API or the CLI), which is then skipped, not queued.
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
    const handler = async () => {
      try {
        const run = await this.backups.run('schedule');
        if (run.status === 'failed') throw new Error(`Backup ${run._id} failed: ${run.error}`);
      } catch (error) {
        if (!(error instanceof BackupRunningError)) throw error;
        this.logger.warn('Scheduled backup skipped: another backup is running');
      }
    };
    runRecurring(this.queue, { name: 'backup', cron: this.config.backup.cron, handler }, this.logger);
  }
}
