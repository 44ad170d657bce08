import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { attachCache, USES_CACHE } from './cache.decorators.js';
import { TieredCache } from './tiered-cache.js';

/**
 * Hands this application's cache to every provider and controller whose class has @Cacheable / @CacheEvict
 * methods (per application, not a process-wide registry, so two apps in one process keep separate L1 caches).
 * Request-scoped instances are not reached: their decorated methods throw.
 */
@Injectable()
export class CacheDecoratorsExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly cache: TieredCache,
  ) {}

  onModuleInit(): void {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance = wrapper.instance as object | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      if (Reflect.getMetadata(USES_CACHE, instance.constructor) === true) attachCache(instance, this.cache);
    }
  }
}
