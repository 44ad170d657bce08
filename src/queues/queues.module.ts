import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { bullOptions } from './bull-options.js';
import { QueueConnectionsWatch } from './queue-connections-watch.js';
import { QueuesShutdown } from './queues-shutdown.js';

/** Bull on the same Redis (bull-options.ts). Feature modules register their queues. */
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: ({ redis }: AppConfig) => bullOptions(redis),
    }),
    DiscoveryModule,
  ],
  providers: [QueuesShutdown, QueueConnectionsWatch],
})
export class QueuesModule {}
