import { Inject, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { METRICS_REGISTRY } from '../metrics/metrics.constants.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../redis/redis-client.factory.js';
import { CacheDecoratorsExplorer } from './cache-decorators.explorer.js';
import { CacheMetrics } from './cache-metrics.js';
import { invalidationChannel } from './invalidation-subscription.js';
import { L2_SENT_AT_ONCE } from './l2-store.js';
import { TieredCache } from './tiered-cache.js';

const CACHE_REDIS = Symbol('CACHE_REDIS');
const CACHE_SUBSCRIBER = Symbol('CACHE_SUBSCRIBER');

/**
 * Caching infrastructure: the two-tier cache and the @Cacheable/@CacheEvict wiring (HTTP
 * Cache-Control is a Fastify hook, see http-cache.ts). Its Redis connections are its own, so cache
 * traffic queues behind nothing else (L2 operations give up after CACHE_L2_TIMEOUT_MS, tens of ms),
 * and pub/sub needs a dedicated connection.
 */
@Module({
  imports: [DiscoveryModule, MetricsModule],
  providers: [
    {
      provide: CACHE_REDIS,
      inject: [APP_CONFIG],
      useFactory: async ({ redis }: AppConfig) => {
        const client = createRedisClient({ ...redis, sentAtOnce: L2_SENT_AT_ONCE });
        await waitUntilReady(client, redis.connectTimeoutMs);
        return client;
      },
    },
    {
      provide: CACHE_SUBSCRIBER,
      inject: [APP_CONFIG],
      // TieredCache subscribes on every (re)connect: see createRedisClient on subscriber connections. Ready first:
      // a SUBSCRIBE written during ioredis' connection handshake makes its ready check fail and reconnect.
      useFactory: async ({ redis }: AppConfig) => {
        const client = createRedisClient({ ...redis, keyPrefix: undefined }, undefined, true);
        await waitUntilReady(client, redis.connectTimeoutMs);
        return client;
      },
    },
    {
      provide: CacheMetrics,
      inject: [METRICS_REGISTRY],
      useFactory: (registry: Registry) => new CacheMetrics(registry),
    },
    {
      provide: TieredCache,
      inject: [CACHE_REDIS, CACHE_SUBSCRIBER, CacheMetrics, APP_CONFIG],
      useFactory: (redis: Redis, subscriber: Redis, metrics: CacheMetrics, { cache, redis: redisConfig }: AppConfig) =>
        new TieredCache(redis, subscriber, metrics, {
          l1Enabled: cache.l1Enabled,
          l1MaxBytes: cache.l1MaxBytes,
          ttlJitter: cache.ttlJitter,
          l2TimeoutMs: cache.l2TimeoutMs,
          graceMs: cache.graceMs,
          softTimeoutMs: cache.softTimeoutMs,
          channel: invalidationChannel(redisConfig.keyPrefix),
        }),
    },
    CacheDecoratorsExplorer,
  ],
  exports: [TieredCache],
})
export class CacheModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly cache: TieredCache,
    @Inject(CACHE_REDIS) private readonly redis: Redis,
    @Inject(CACHE_SUBSCRIBER) private readonly subscriber: Redis,
    private readonly steps: ShutdownSteps,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.cache.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.cache.stop();
    await this.steps.close('Redis (cache)', () =>
      Promise.all([closeRedisClient(this.redis), closeRedisClient(this.subscriber)]),
    );
  }
}
