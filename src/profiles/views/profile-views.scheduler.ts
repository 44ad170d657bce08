import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bull';
import { InjectConfig } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { ProfileViewsFlusher } from './profile-views.flusher.js';
import { FLUSH_JOB, PROFILE_VIEWS_QUEUE } from './profile-views.constants.js';

const SCHEDULE_TIMEOUT_MS = 5_000;

/**
 * On worker instances (ROLE worker or all): schedules the flush as a Bull repeatable job, which
 * Bull keeps unique across instances, and processes it. API-only instances do neither.
 */
@Injectable()
export class ProfileViewsScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(ProfileViewsScheduler.name);

  constructor(
    @InjectQueue(PROFILE_VIEWS_QUEUE) private readonly queue: Queue,
    private readonly flusher: ProfileViewsFlusher,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    void this.queue.process(FLUSH_JOB, 1, () => this.flusher.flush());
    // Not awaited: a Redis outage at start must not block start-up; the schedule lives in Redis,
    // so the next instance that starts with Redis up adds it.
    void withTimeout(
      this.queue.add(
        FLUSH_JOB,
        {},
        {
          repeat: { every: this.config.queues.viewFlushIntervalMs },
          jobId: FLUSH_JOB,
          removeOnComplete: true,
          removeOnFail: 100,
        },
      ),
      SCHEDULE_TIMEOUT_MS,
    ).catch((error: unknown) => this.logger.warn(`Could not schedule view flushes: ${(error as Error).message}`));
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms).unref()),
  ]);
}
