import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bull';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { runRecurring } from '../queues/recurring-job.js';
import { SubscriptionSweeper } from './subscription-sweeper.js';

export const SUBSCRIPTIONS_QUEUE = 'subscriptions';

/** Worker instances sweep at start and every SUBSCRIPTION_SWEEP_INTERVAL_MS; Bull gives each run to one worker. */
@Injectable()
export class SubscriptionSweepScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger(SubscriptionSweepScheduler.name);

  constructor(
    @InjectQueue(SUBSCRIPTIONS_QUEUE) private readonly queue: Queue,
    private readonly sweeper: SubscriptionSweeper,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    runRecurring(
      this.queue,
      {
        name: 'sweep',
        everyMs: this.config.queues.subscriptionSweepIntervalMs,
        handler: () => this.sweeper.sweep(),
        runAtStart: true,
      },
      this.logger,
    );
  }
}
