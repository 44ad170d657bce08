import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { CACHE_EVICT, CACHEABLE, evict, type CacheEvictOptions, type CacheableOptions } from './cache.decorators.js';
import { TieredCache } from './tiered-cache.js';

type Method = (...args: unknown[]) => Promise<unknown>;

/**
 * Finds @Cacheable / @CacheEvict methods on this application's providers and controllers and wraps
 * them with this application's cache (per instance, not a process-wide registry, so two apps in one
 * process keep separate L1 caches).
 */
@Injectable()
export class CacheDecoratorsExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly cache: TieredCache,
  ) {}

  onModuleInit(): void {
    for (const wrapper of [...this.discovery.getProviders(), ...this.discovery.getControllers()]) {
      const instance = wrapper.instance as Record<string, Method> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      for (const name of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance) as object)) {
        this.wrap(instance, name);
      }
    }
  }

  private wrap(instance: Record<string, Method>, name: string): void {
    const original = instance[name];
    const cacheable = this.reflector.get<CacheableOptions | undefined>(CACHEABLE, original);
    const evictions = this.reflector.get<CacheEvictOptions[] | undefined>(CACHE_EVICT, original);
    if (!cacheable && !evictions) return;
    const cache = this.cache;
    const call: Method = (...args) => original.apply(instance, args);

    instance[name] = async (...args: unknown[]) => {
      const result = cacheable
        ? await cache.wrap(cacheable.name, cacheable.key(...args), () => call(...args), cacheable)
        : await call(...args);
      for (const eviction of evictions ?? []) await evict(cache, eviction, args);
      return result;
    };
  }
}
