import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { evict } from '../cache/cache.decorators.js';
import { TieredCache } from '../cache/tiered-cache.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { cityKeyOf } from './list-queries.js';
import { CITIES_EVICTION, LIST_EVICTION } from './profile-caches.js';
import { ProfilesRepository } from './profiles.repository.js';

/**
 * Rewrites the city keys stored before the current cityKeyOf rule, so that a search finds those profiles and the city
 * counts show one city once ("İstanbul" was stored as "i" plus a combining dot, apart from "Istanbul"). Runs in the
 * background on workers at start and is idempotent, so instances starting together do no harm. A backup restored
 * later brings its old keys back until the next worker start.
 */
@Injectable()
export class CityKeyMigration implements OnApplicationBootstrap {
  private readonly logger = new Logger(CityKeyMigration.name);

  constructor(
    private readonly profiles: ProfilesRepository,
    private readonly cache: TieredCache,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    void this.run().catch((error: unknown) =>
      this.logger.warn(`City key migration stopped: ${(error as Error).message}`),
    );
  }

  /** @returns how many profiles had their city key rewritten */
  async run(): Promise<number> {
    let rewritten = 0;
    for await (const { _id, location } of this.profiles.nonAsciiCityKeys()) {
      const key = cityKeyOf(location.city);
      if (key !== location.cityKey && (await this.profiles.replaceCityKey(_id, location.cityKey, key))) rewritten += 1;
    }
    if (rewritten > 0) {
      // Counts and search pages cached under the old keys would show the city twice, or miss it, for their TTL.
      await Promise.all([evict(this.cache, CITIES_EVICTION, []), evict(this.cache, LIST_EVICTION, [])]);
      this.logger.log(`City key migration: ${rewritten} profiles rewritten`);
    }
    return rewritten;
  }
}
