import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module.js';
import { BackupMetrics } from './backup-metrics.js';
import { BACKUPS_QUEUE, BACKUPS_QUEUE_SETTINGS, BackupScheduler } from './backup.scheduler.js';
import { BackupService } from './backup.service.js';
import { BackupsController } from './backups.controller.js';

/** Scheduled and on-demand backups in mongodump's layout, retention, verification and their metrics. */
@Module({
  imports: [BullModule.registerQueue({ name: BACKUPS_QUEUE, settings: BACKUPS_QUEUE_SETTINGS }), MetricsModule],
  controllers: [BackupsController],
  providers: [BackupService, BackupScheduler, BackupMetrics],
})
export class BackupModule {}
