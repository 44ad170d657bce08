import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { ConfigModule } from '../config/config.module.js';
import { DatabaseModule } from '../database/database.module.js';
import { BackupService } from './backup.service.js';

/** What the backup CLI needs: config and MongoDB. No HTTP, Redis or queues. */
@Module({})
export class BackupCliModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: BackupCliModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule],
      providers: [BackupService],
    };
  }
}
