import { Inject, Injectable, Logger } from '@nestjs/common';
import pMap from 'p-map';
import { Gauge, type Registry } from 'prom-client';
import { TieredCache } from '../../cache/tiered-cache.js';
import type { AppConfig } from '../../config/app-config.js';
import { InjectConfig } from '../../config/config.module.js';
import { backgroundReads } from '../../database/background-reads.js';
import { METRICS_REGISTRY } from '../../metrics/metrics.constants.js';
import { SubscriptionNeedsSupportException } from '../../subscriptions/stored-subscription.js';
import { ENTITLEMENT_CACHE, SubscriptionsService } from '../../subscriptions/subscriptions.service.js';
import { CITIES_CACHE, POPULAR_CACHE, PROFILE_CACHE } from '../profile-caches.js';
import { ProfilesService } from '../profiles.service.js';

export interface WarmResult {
  entries: number;
  durationMs: number;
}

/** Subscription statuses warmed per run: enough for the members who subscribed or renewed lately, bounded. */
const WARM_SUBSCRIPTIONS = 1_000;

/**
 * The Vesta report's three warming strategies: the 50 most viewed profiles (the list and each profile), city data,
 * and the subscription status of members with a live subscription (the most recent WARM_SUBSCRIPTIONS). Values are
 * recomputed and overwrite both tiers, so a warm run also refreshes what is already cached. Each status is read
 * inside its own cache flight, so a subscription change during the run is never overwritten by an older read.
 * The first load that fails ends the run (the next firing tries again) and starts no further load; a member's
 * subscription that cannot be read (logged with its id, left to support) is left uncached instead, or it would end
 * every run.
 */
@Injectable()
export class ProfileCacheWarmer {
  private readonly logger = new Logger(ProfileCacheWarmer.name);
  private readonly lastDuration: Gauge;
  private readonly lastEntries: Gauge;
  private readonly concurrency: number;

  constructor(
    private readonly profiles: ProfilesService,
    private readonly subscriptions: SubscriptionsService,
    private readonly cache: TieredCache,
    @Inject(METRICS_REGISTRY) registry: Registry,
    @InjectConfig() config: AppConfig,
  ) {
    this.concurrency = backgroundReads(config.mongo);
    this.lastDuration = new Gauge({
      name: 'cache_warm_last_duration_seconds',
      help: 'Duration of the last cache warm run',
      registers: [registry],
    });
    this.lastEntries = new Gauge({
      name: 'cache_warm_last_entries',
      help: 'Entries written by the last cache warm run',
      registers: [registry],
    });
  }

  async warm(): Promise<WarmResult> {
    const started = performance.now();
    const popular = await this.cache.refresh(
      POPULAR_CACHE.name,
      POPULAR_CACHE.key(),
      () => this.profiles.loadPopularIds(),
      POPULAR_CACHE,
    );
    await pMap(
      popular,
      (id) =>
        this.cache.refresh(
          PROFILE_CACHE.name,
          PROFILE_CACHE.key(id),
          () => this.profiles.loadSnapshot(id),
          PROFILE_CACHE,
        ),
      { concurrency: this.concurrency },
    );
    await this.cache.refresh(CITIES_CACHE.name, CITIES_CACHE.key(), () => this.profiles.loadCities(), CITIES_CACHE);
    const members = await this.subscriptions.liveMembers(WARM_SUBSCRIPTIONS);
    const statuses = await pMap(
      members,
      (userId) =>
        this.cache
          .refresh(
            ENTITLEMENT_CACHE.name,
            ENTITLEMENT_CACHE.key(userId),
            () => this.subscriptions.loadEntitlementState(userId),
            ENTITLEMENT_CACHE,
          )
          .then(
            () => 1,
            (error: unknown) => {
              if (!(error instanceof SubscriptionNeedsSupportException)) throw error;
              return 0;
            },
          ),
      { concurrency: this.concurrency },
    );

    // Statuses left uncached are not entries: counted, cache_warm_last_entries said they were warmed.
    const entries = popular.length + 2 + statuses.reduce((sum, written) => sum + written, 0);
    const result = { entries, durationMs: Math.round(performance.now() - started) };
    this.lastDuration.set(result.durationMs / 1000);
    this.lastEntries.set(result.entries);
    this.logger.log(`Cache warmed: ${result.entries} entries in ${result.durationMs} ms`);
    return result;
  }
}
