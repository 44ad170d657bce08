import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { DatabaseModule } from '../database/database.module.js';
import { MEDIA_CLEANUP_QUEUE, MediaCleanup } from './media-cleanup.js';
import { MediaQuota } from './media-quota.js';
import { MEDIA_QUEUE, MediaVariantsJob } from './media-variants.job.js';
import { MediaController } from './media.controller.js';
import { MediaService } from './media.service.js';
import { MediaStorage } from './media.storage.js';

/** Uploads and downloads through GridFS (buckets `media` and `media_variants`), resized variants, cleanup. */
@Module({
  imports: [DatabaseModule, BullModule.registerQueue({ name: MEDIA_QUEUE }, { name: MEDIA_CLEANUP_QUEUE })],
  controllers: [MediaController],
  providers: [MediaStorage, MediaService, MediaQuota, MediaVariantsJob, MediaCleanup],
  exports: [MediaService],
})
export class MediaModule {}
