import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bull';
import { InjectConfig } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { runRecurring } from '../../queues/recurring-job.js';
import { ProfileViewsFlusher } from './profile-views.flusher.js';
import { FLUSH_JOB, PROFILE_VIEWS_QUEUE } from './profile-views.constants.js';

/** Worker instances (ROLE worker or all) flush counted views every VIEW_FLUSH_INTERVAL_MS. */
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
    runRecurring(
      this.queue,
      { name: FLUSH_JOB, everyMs: this.config.queues.viewFlushIntervalMs, handler: () => this.flusher.flush() },
      this.logger,
    );
  }
}
