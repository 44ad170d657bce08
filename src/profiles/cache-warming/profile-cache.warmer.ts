import { Inject, Injectable, Logger } from '@nestjs/common';
import { Gauge, type Registry } from 'prom-client';
import { TieredCache } from '../../cache/tiered-cache.js';
import { METRICS_REGISTRY } from '../../metrics/metrics.constants.js';
import { CITIES_CACHE, POPULAR_CACHE, PROFILE_CACHE, ProfilesService } from '../profiles.service.js';

export interface WarmResult {
  entries: number;
  durationMs: number;
}

/**
 * The Vesta report's warming strategies that exist so far: the 50 most viewed profiles (the list and
 * each profile) and city data. Subscription status joins when subscriptions exist. Values are
 * recomputed and overwrite both tiers, so a warm run also refreshes what is already cached.
 */
@Injectable()
export class ProfileCacheWarmer {
  private readonly logger = new Logger(ProfileCacheWarmer.name);
  private readonly lastDuration: Gauge;
  private readonly lastEntries: Gauge;

  constructor(
    private readonly profiles: ProfilesService,
    private readonly cache: TieredCache,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
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
      () => this.profiles.loadPopular(),
      POPULAR_CACHE,
    );
    await Promise.all(
      popular.map((profile) =>
        this.cache.refresh(
          PROFILE_CACHE.name,
          PROFILE_CACHE.key(profile.id),
          () => this.profiles.loadSnapshot(profile.id),
          PROFILE_CACHE,
        ),
      ),
    );
    await this.cache.refresh(CITIES_CACHE.name, CITIES_CACHE.key(), () => this.profiles.loadCities(), CITIES_CACHE);

    const result = { entries: popular.length + 2, durationMs: Math.round(performance.now() - started) };
    this.lastDuration.set(result.durationMs / 1000);
    this.lastEntries.set(result.entries);
    this.logger.log(`Cache warmed: ${result.entries} entries in ${result.durationMs} ms`);
    return result;
  }
}
