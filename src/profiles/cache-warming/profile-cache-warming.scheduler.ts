import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bull';
import { InjectConfig } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { runRecurring } from '../../queues/recurring-job.js';
import { ProfileCacheWarmer } from './profile-cache.warmer.js';

export const CACHE_WARMING_QUEUE = 'cache-warming';

/** Worker instances warm the cache once at start (one run per fleet start) and every CACHE_WARM_INTERVAL_MS. */
@Injectable()
export class ProfileCacheWarmingScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(ProfileCacheWarmingScheduler.name);

  constructor(
    @InjectQueue(CACHE_WARMING_QUEUE) private readonly queue: Queue,
    private readonly warmer: ProfileCacheWarmer,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    runRecurring(
      this.queue,
      { name: 'warm', everyMs: this.config.cache.warmIntervalMs, handler: () => this.warmer.warm(), runAtStart: true },
      this.logger,
    );
  }
}
