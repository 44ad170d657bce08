import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { evict } from '../cache/cache.decorators.js';
import { TieredCache } from '../cache/tiered-cache.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { normaliseInterest } from './dto/interest-tag.js';
import { gridCellOf } from './geo.js';
import { cityKeyOf } from './list-queries.js';
import { CITIES_EVICTION, LIST_EVICTION, PROFILE_CACHE } from './profile-caches.js';
import { ProfilesRepository, type CellOfProfile } from './profiles.repository.js';
import { isTextList } from '../common/text/text-list.js';
import { storedBirthDate } from './stored-profile.js';

/**
 * Rewrites the city keys and interests stored before the current rule (cityKeyOf, foldedText), so that a search finds
 * those profiles and the city counts show one city once ("İstanbul" was stored as "i" plus a combining dot, apart from
 * "Istanbul"; interests kept that dot until 2026-12-04), gives a key to profiles an import or a hand edit left without
 * one, stores the nearby cell of profiles that have none, and writes photo ids stored with capitals in lower case: a
 * file's delete removes its id from profiles by exact match (ProfilesRepository.pullPhoto), so a mixed-case spelling
 * stayed there, a photo answering 404, and stores as dates the birth dates an import left as text or a number, which
 * the age search never found. Runs in the background on workers at start and is idempotent, so instances
 * starting together do no harm. A backup restored later brings its old keys back until the next worker start.
 */
/** Profiles read before their cells are stored (in write commands of STATEMENTS_PER_WRITE, write-commands.ts). */
const CELL_BATCH = 500;

@Injectable()
export class SearchKeyMigration implements OnApplicationBootstrap {
  private readonly logger = new Logger(SearchKeyMigration.name);

  constructor(
    private readonly profiles: ProfilesRepository,
    private readonly cache: TieredCache,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    void this.run().catch((error: unknown) =>
      this.logger.warn(`Search key migration stopped: ${(error as Error).message}`),
    );
  }

  /** @returns how many profiles had a city key, interests or photo ids rewritten, or a cell or birth date stored */
  async run(): Promise<number> {
    // First: until a profile has its cell, nearby search does not find it.
    const cells = await this.storeCells();
    let cities = 0;
    // A hand edit can leave anything in these fields (stored-profile.ts): a profile whose city is no text, or whose
    // interests or photo ids are no list of text, is left as it is for support. It threw, which stopped the migration
    // for every profile after it.
    for await (const { _id, location } of this.profiles.cityKeysToRecheck()) {
      if (typeof location.city !== 'string') continue;
      const key = cityKeyOf(location.city);
      const stored = typeof location.cityKey === 'string' ? location.cityKey : undefined;
      if (key !== stored && (await this.profiles.replaceCityKey(_id, stored, key))) cities += 1;
    }
    const interests: string[] = [];
    for await (const { _id, interests: stored } of this.profiles.interestsToRecheck()) {
      if (!isTextList(stored)) continue;
      const folded = [...new Set(stored.map(normaliseInterest))];
      if (!isDeepStrictEqual(folded, stored) && (await this.profiles.replaceInterests(_id, stored, folded)))
        interests.push(_id.toHexString());
    }
    const photos: string[] = [];
    for await (const { _id, photoIds: stored } of this.profiles.photoIdsWithCapitals()) {
      if (!isTextList(stored)) continue;
      const lowered = stored.map((id) => id.toLowerCase());
      if (await this.profiles.replacePhotoIds(_id, stored, lowered)) photos.push(_id.toHexString());
    }
    let birthDates = 0;
    for await (const { _id, birthDate } of this.profiles.birthDatesToRecheck()) {
      // One that names no date is left for support, as above (stored-profile.ts reads it as unknown).
      const date = storedBirthDate(birthDate);
      if (date && (await this.profiles.replaceBirthDate(_id, birthDate, date))) birthDates += 1;
    }
    if (cities + interests.length + photos.length + cells + birthDates === 0) return 0;
    // Counts and search pages cached under the old keys would show the city twice, or miss a profile, for their TTL
    // (nearby pages miss a profile without a cell); a profile's cached copy shows its interests and photo ids.
    const rewritten = [...interests, ...photos];
    await Promise.all([
      evict(this.cache, CITIES_EVICTION, []),
      evict(this.cache, LIST_EVICTION, []),
      rewritten.length > 0 ? this.cache.invalidate(PROFILE_CACHE.name, rewritten) : undefined,
    ]);
    this.logger.log(
      `Search key migration: ${cities} city keys, the interests of ${interests.length} profiles and the photo ids ` +
        `of ${photos.length} rewritten, ${cells} nearby cells and ${birthDates} birth dates stored`,
    );
    return cities + interests.length + photos.length + cells + birthDates;
  }

  /** Stores the nearby cell of every profile without one, CELL_BATCH at a time; returns how many it stored. */
  private async storeCells(): Promise<number> {
    let stored = 0;
    let batch: CellOfProfile[] = [];
    for await (const { _id, location } of this.profiles.withoutCell()) {
      // Left for support, as in run(): without coordinates there is no cell (a missing location threw).
      const { lat, lng } = location ?? {};
      if (typeof lat !== 'number' || typeof lng !== 'number' || !Number.isFinite(lat + lng)) continue;
      batch.push({ id: _id, location: { lat, lng }, cell: gridCellOf({ lat, lng }) });
      if (batch.length < CELL_BATCH) continue;
      stored += await this.profiles.setCells(batch);
      batch = [];
    }
    return stored + (await this.profiles.setCells(batch));
  }
}
