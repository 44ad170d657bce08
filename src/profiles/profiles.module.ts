import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { LocationsController } from './locations.controller.js';
import { CacheModule } from '../cache/cache.module.js';
import { RedisModule } from '../redis/redis.module.js';
import { Profile, ProfileSchema } from './profile.schema.js';
import { ProfilesController } from './profiles.controller.js';
import { ProfilesRepository } from './profiles.repository.js';
import { SearchKeyMigration } from './search-key-migration.js';
import { ProfileCacheWarmer } from './cache-warming/profile-cache.warmer.js';
import { CACHE_WARMING_QUEUE, ProfileCacheWarmingScheduler } from './cache-warming/profile-cache-warming.scheduler.js';
import { MediaModule } from '../media/media.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { ProfilesService } from './profiles.service.js';
import { SubscriptionsModule } from '../subscriptions/subscriptions.module.js';
import { PROFILE_VIEWS_QUEUE } from './views/profile-views.constants.js';
import { ProfileViewsFlusher } from './views/profile-views.flusher.js';
import { ProfileViewsScheduler } from './views/profile-views.scheduler.js';
import { ProfileViewsService } from './views/profile-views.service.js';

@Module({
  imports: [
    MongooseModule.forFeature([{ name: Profile.name, schema: ProfileSchema }]),
    BullModule.registerQueue({ name: PROFILE_VIEWS_QUEUE }, { name: CACHE_WARMING_QUEUE }),
    MetricsModule,
    RedisModule,
    CacheModule,
    // Premium routes (@RequiresPlan) read the caller's plan.
    SubscriptionsModule,
    // Photos must be the owner's own uploads; deleted uploads leave profiles.
    MediaModule,
  ],
  controllers: [ProfilesController, LocationsController],
  providers: [
    ProfilesRepository,
    ProfilesService,
    ProfileViewsService,
    ProfileViewsFlusher,
    ProfileViewsScheduler,
    ProfileCacheWarmer,
    ProfileCacheWarmingScheduler,
    SearchKeyMigration,
  ],
})
export class ProfilesModule {}
