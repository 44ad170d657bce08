import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { ProblemDetailsFilter } from './common/problem/problem-details.filter.js';
import { globalValidationPipe } from './common/pipes/request-validation.pipe.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthModule } from './health/health.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { MediaModule } from './media/media.module.js';
import { BackupModule } from './backup/backup.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MonitoringModule } from './monitoring/monitoring.module.js';
import { RedisModule } from './redis/redis.module.js';
import { AuthModule } from './auth/auth.module.js';
import { BatchModule } from './batch/batch.module.js';
import { CacheModule } from './cache/cache.module.js';
import { ProfilesModule } from './profiles/profiles.module.js';
import { QueryParamsModule } from './common/query/query-params.module.js';
import { RequestBodyModule } from './common/body/request-body.module.js';
import { QueuesModule } from './queues/queues.module.js';
import { SubscriptionsModule } from './subscriptions/subscriptions.module.js';
import { ThrottlingModule } from './throttling/throttling.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LifecycleModule,
        DatabaseModule,
        RedisModule,
        MetricsModule,
        MonitoringModule,
        HealthModule,
        QueuesModule,
        CacheModule,
        AuthModule,
        // After AuthModule: its guard must see the caller JwtAuthGuard identified.
        ...(config.throttle.enabled ? [ThrottlingModule] : []),
        ProfilesModule,
        BatchModule,
        SubscriptionsModule,
        MediaModule,
        BackupModule,
        // Last: their guards refuse unknown query parameters and bodies after the auth and rate-limit guards have run.
        QueryParamsModule,
        RequestBodyModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        {
          provide: APP_PIPE,
          useValue: globalValidationPipe(),
        },
      ],
    };
  }
}
