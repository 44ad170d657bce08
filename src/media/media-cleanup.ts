import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bull';
import type { Types } from 'mongoose';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { runRecurring, stopRecurring } from '../queues/recurring-job.js';
import { MEDIA_QUEUE, MediaVariantsJob } from './media-variants.job.js';
import { MediaService } from './media.service.js';
import { MediaStorage } from './media.storage.js';

/**
 * A queue of its own: Bull runs one job per processor registered on a queue, of whichever name comes next, so beside
 * the variants processor on the media queue it made two images at a time per worker.
 */
export const MEDIA_CLEANUP_QUEUE = 'media-cleanup';
const CLEANUP_JOB = 'cleanup';

/** Older than this, a write still pending was cut short: uploads are bounded by the request timeout. */
export const ABANDONED_AFTER_MS = 60 * 60 * 1000;
/** An upload whose variants are not made after this long had its job request lost. */
const VARIANTS_OVERDUE_MS = 10 * 60 * 1000;
const BATCH = 500;
/** Failures in a row that end a step: see MediaCleanup.eachOf. */
const OUTAGE_AFTER_FAILURES = 3;

export interface CleanupResult {
  /** Uploads and deletes cut short, now removed (file document and chunks; an original's variants too). */
  abandoned: number;
  /** Uploads whose variants were requested again. */
  requeued: number;
  /** Deletes that had failed halfway, now finished. */
  deleted: number;
  /** Files a step failed for (each logged): left for the next run. */
  failed: number;
}

/**
 * Removes what interrupted writes leave behind (chunks without a file, a file without its hash), finishes deletes that
 * failed halfway and asks again for variants whose request was lost. It reads the pending-writes record, not the
 * chunks, and the originals without a hash through their index, so a run costs the same however many files are stored.
 */
@Injectable()
export class MediaCleanup implements OnApplicationBootstrap {
  private readonly logger = new Logger(MediaCleanup.name);
  /** Files a step failed for in this instance's last run (hex ids), which the next run tries after the others. */
  private failedLastRun = new Set<string>();

  constructor(
    @InjectQueue(MEDIA_CLEANUP_QUEUE) private readonly queue: Queue,
    @InjectQueue(MEDIA_QUEUE) private readonly mediaQueue: Queue,
    private readonly storage: MediaStorage,
    private readonly media: MediaService,
    private readonly variantsJob: MediaVariantsJob,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    // Versions before 2026-12-03 scheduled it on the media queue, where nothing processes it any more.
    stopRecurring(this.mediaQueue, CLEANUP_JOB, this.logger);
    const handler = async () => this.logger.log(`Media cleanup: ${JSON.stringify(await this.run())}`);
    // At start too: Bull's first repeat comes only at the next multiple of the interval (an hour by default).
    const job = { name: CLEANUP_JOB, everyMs: this.config.media.cleanupIntervalMs, handler, runAtStart: true };
    runRecurring(this.queue, job, this.logger);
  }

  async run(now = new Date()): Promise<CleanupResult> {
    const before = new Date(now.getTime() - ABANDONED_AFTER_MS);
    let abandoned = 0;
    for (const bucket of [this.storage.originals, this.storage.variants]) {
      abandoned += await bucket.removeAbandonedWrites(before, BATCH);
    }
    // Originals without a hash and without a pending record (cut short by the first version, restored, edited): 404 to
    // everyone, their owner's included, so nothing else ever removed them. Removed as a delete would, variants and
    // profiles' references included.
    const incompleteFiles = await this.storage.originals.incompleteFiles(before, BATCH);
    const incomplete = await this.eachOf(incompleteFiles, 'remove the incomplete', (id) => this.media.finishDelete(id));
    const overdue = await this.storage.unprocessed(new Date(now.getTime() - VARIANTS_OVERDUE_MS), BATCH);
    const requeued = await this.eachOf(overdue, 'request variants of', (id) => this.variantsJob.requeue(id));
    // A delete still running beside this one does no harm: each step of a delete can run twice.
    const unfinished = await this.storage.unfinishedDeletes(BATCH);
    const deleted = await this.eachOf(unfinished, 'finish the delete of', (id) => this.media.finishDelete(id));
    this.failedLastRun = new Set([...incomplete.failing, ...requeued.failing, ...deleted.failing]);
    return {
      abandoned: abandoned + incomplete.done,
      requeued: requeued.done,
      deleted: deleted.done,
      failed: incomplete.failed + requeued.failed + deleted.failed,
    };
  }

  /**
   * Each file on its own: one that fails every time (a record the step cannot handle) would otherwise end every run
   * before the files after it, which would then never be done. It is logged, and the next run tries it again. Failures
   * in a row look like an outage instead (Redis or MongoDB down, each try taking its timeout): the step stops there.
   * Files that failed in the last run come last, so that three that always fail (one member's photos, returned
   * together) do not end the step before the others in every run.
   */
  private async eachOf(
    ids: Types.ObjectId[],
    step: string,
    apply: (id: Types.ObjectId) => Promise<unknown>,
  ): Promise<{ done: number; failed: number; failing: string[] }> {
    const failedBefore = (id: Types.ObjectId) => this.failedLastRun.has(id.toHexString());
    const ordered = [...ids.filter((id) => !failedBefore(id)), ...ids.filter(failedBefore)];
    let done = 0;
    let failed = 0;
    const failing: string[] = [];
    let failedInARow = 0;
    for (const [index, id] of ordered.entries()) {
      try {
        await apply(id);
        done += 1;
        failedInARow = 0;
      } catch (error) {
        failed += 1;
        failing.push(id.toHexString());
        this.logger.error(`Media cleanup could not ${step} ${id.toHexString()}: ${(error as Error).message}`);
        if (++failedInARow === OUTAGE_AFTER_FAILURES) {
          this.logger.error(`Media cleanup stops trying to ${step} files until its next run`);
          // Those not tried keep their place at the end.
          failing.push(
            ...ordered
              .slice(index + 1)
              .filter(failedBefore)
              .map((one) => one.toHexString()),
          );
          break;
        }
      }
    }
    return { done, failed, failing };
  }
}
