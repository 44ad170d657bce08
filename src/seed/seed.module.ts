import { Module, type DynamicModule } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { Registry } from 'prom-client';
import { PasswordHasher } from '../auth/password-hasher.js';
import { PasswordHashingAdmission } from '../auth/password-hashing-admission.js';
import type { AppConfig } from '../config/app-config.js';
import { ConfigModule } from '../config/config.module.js';
import { DatabaseModule } from '../database/database.module.js';
import { METRICS_REGISTRY } from '../metrics/metrics.constants.js';
import { Profile, ProfileSchema } from '../profiles/profile.schema.js';
import { User, UserSchema } from '../users/user.schema.js';
import { DemoSeeder } from './demo-seeder.js';

/** Only what seeding needs: no HTTP, no Redis, no queues. */
@Module({})
export class SeedModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: SeedModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        MongooseModule.forFeature([
          { name: User.name, schema: UserSchema },
          { name: Profile.name, schema: ProfileSchema },
        ]),
      ],
      providers: [
        DemoSeeder,
        PasswordHasher,
        PasswordHashingAdmission,
        // The admission's gauges go nowhere: seeding serves no /metrics (MetricsModule would open METRICS_PORT).
        { provide: METRICS_REGISTRY, useFactory: () => new Registry() },
      ],
    };
  }
}
