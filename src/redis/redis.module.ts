import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { closeRedisClient, createRedisClient, waitUntilReady } from './redis-client.factory.js';
import { REDIS_CLIENT } from './redis.constants.js';

/** One shared ioredis client for caching, throttling and counters; closed after the HTTP server. */
@Module({
  providers: [
    {
      provide: REDIS_CLIENT,
      inject: [APP_CONFIG],
      useFactory: async ({ redis }: AppConfig) => {
        const client = createRedisClient(redis);
        await waitUntilReady(client, redis.connectTimeoutMs);
        return client;
      },
    },
  ],
  exports: [REDIS_CLIENT],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS_CLIENT) private readonly client: Redis,
    private readonly steps: ShutdownSteps,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.steps.close('Redis (shared client)', () => closeRedisClient(this.client));
  }
}
