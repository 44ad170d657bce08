import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job, Queue } from 'bull';
import { Types } from 'mongoose';
import { buffer } from 'node:stream/consumers';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { withTimeout } from '../common/with-timeout.js';
import { processJobs } from '../queues/recurring-job.js';
import { whileConnected } from '../queues/while-connected.js';
import { FileCutShortError, FileIncompleteError } from './gridfs-bucket.js';
import { renderVariants, UnreadableImageError, VARIANT_NAMES } from './media-variants.js';
import { MediaStorage } from './media.storage.js';

export const MEDIA_QUEUE = 'media';
const VARIANTS_JOB = 'variants';
const ENQUEUE_TIMEOUT_MS = 2_000;

/** One job per file: adding it again while it waits or runs adds nothing. */
const jobIdOf = (id: Types.ObjectId) => `variants:${id.toHexString()}`;

interface VariantsJobData {
  mediaId: string;
}

/**
 * Makes the resized variants of an upload on a worker. One job per file (its id is the job id, so
 * adding it twice adds it once); retried with backoff when the database or Redis fails. An image that
 * cannot be decoded, or whose stored bytes end before its length, ends its job at once, marked unreadable. Safe to run
 * again: it makes only the variants that are missing.
 */
@Injectable()
export class MediaVariantsJob implements OnApplicationBootstrap {
  private readonly logger = new Logger(MediaVariantsJob.name);

  constructor(
    @InjectQueue(MEDIA_QUEUE) private readonly queue: Queue<VariantsJobData>,
    private readonly storage: MediaStorage,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // One at a time per worker: each job holds one original (at most MEDIA_MAX_BYTES) in memory.
    if (this.config.role !== 'api') processJobs(this.queue, VARIANTS_JOB, (job) => this.run(job), this.logger);
  }

  /** Not awaited by uploads: with Redis down the upload still succeeds, and the cleanup job asks again later. */
  enqueue(id: Types.ObjectId): Promise<unknown> {
    const mediaId = id.toHexString();
    const options = {
      jobId: jobIdOf(id),
      attempts: 5,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: true,
      removeOnFail: 100,
    };
    const added = whileConnected(this.queue, () => this.queue.add(VARIANTS_JOB, { mediaId }, options));
    return withTimeout(added, ENQUEUE_TIMEOUT_MS);
  }

  /**
   * Asks again for the variants of an upload that has none yet (the cleanup job): its request was lost, or its job
   * failed all its tries. A failed job stays in the queue under the file's job id (removeOnFail keeps the last 100),
   * and Bull ignores an add under an id it holds, so it is removed first. A job waiting or running is left alone.
   */
  async requeue(id: Types.ObjectId): Promise<unknown> {
    const failed = async () => {
      const job = await this.queue.getJob(jobIdOf(id));
      if (job && (await job.isFailed())) await job.remove();
    };
    await withTimeout(failed(), ENQUEUE_TIMEOUT_MS);
    return this.enqueue(id);
  }

  async run(job: Pick<Job<VariantsJobData>, 'data'>): Promise<void> {
    const id = new Types.ObjectId(job.data.mediaId);
    const original = await this.storage.find(id);
    // Deleted since, or being deleted: an earlier try that failed may have written a variant the delete did not see.
    if (!original || original.deleting) return this.storage.removeVariants(id);
    const existing = await Promise.all(VARIANT_NAMES.map((name) => this.storage.findVariant(id, name)));
    const missing = new Set(VARIANT_NAMES.filter((_, index) => !existing[index]));
    let rendered;
    try {
      rendered = await renderVariants(await buffer(this.storage.open(original)));
    } catch (error) {
      // Chunks missing behind a record (restored or edited by hand) are as final as a broken image: retried, the job
      // failed all its tries, and the cleanup asked for it again on every run, each time with errors in the log.
      const incomplete = error instanceof FileIncompleteError || error instanceof FileCutShortError;
      if (!(error instanceof UnreadableImageError) && !incomplete) throw error;
      // A member's broken file (decision 0023 keeps uploads as they came), not a failure of ours: one warning, and
      // the job ends here. Failing it, even discarded, logged an error saying "attempt 1 of 5".
      const why = incomplete ? 'has fewer bytes stored than its record says' : 'cannot be decoded';
      this.logger.warn(`Media ${job.data.mediaId} ${why}; it is served without variants: ${error.message}`);
      await this.storage.markProcessed(id, 'unreadable');
      return;
    }
    for (const variant of rendered.variants) {
      if (missing.has(variant.name)) await this.storage.storeVariant(id, variant.name, variant.bytes, variant.size);
    }
    await this.storage.markProcessed(id, 'done', rendered.size);
    // A delete that began while we worked may have listed the variants before ours were in: take them away
    // (MediaStorage.remove says why looking after the writes is enough).
    const after = await this.storage.find(id);
    if (!after || after.deleting) await this.storage.removeVariants(id);
  }
}
