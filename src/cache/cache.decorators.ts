import { SetMetadata } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { TieredCache } from './tiered-cache.js';

export const CACHEABLE = 'vesta:cacheable';
export const CACHE_EVICT = 'vesta:cache-evict';

// Method arguments are whatever the decorated method takes; the key builders receive them as given.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Args = any[];

export interface CacheableOptions {
  /** Cache name: a namespace and the metrics label. */
  name: string;
  /** Builds the key from the method's arguments. Long or unusual keys are hashed (see cacheKey). */
  key: (...args: Args) => string;
  ttlS: number;
  /** Tags for group invalidation (e.g. every search page). */
  tags?: readonly string[];
}

export interface CacheEvictOptions {
  name: string;
  /** Keys within `name` to remove after the method succeeds, from its arguments. */
  keys?: (...args: Args) => string[];
  tags?: readonly string[];
  /** Evicts only when this holds for the method's arguments (e.g. only changes that can move an entry in a list). */
  when?: (...args: Args) => boolean;
}

/** Carries out one eviction spec for a call's arguments: what @CacheEvict does, also for code that evicts by hand. */
export async function evict(
  cache: Pick<TieredCache, 'invalidate'>,
  eviction: CacheEvictOptions,
  args: readonly unknown[],
): Promise<void> {
  if (eviction.when && !eviction.when(...args)) return;
  await cache.invalidate(eviction.name, eviction.keys?.(...args) ?? [], eviction.tags ?? []);
}

/** Caches the method's resolved value in both tiers (see TieredCache). The method must return a Promise. */
export const Cacheable = (options: CacheableOptions): MethodDecorator => SetMetadata(CACHEABLE, options);

/** After the method resolves, invalidates keys and tags on every instance. */
export const CacheEvict = (...options: CacheEvictOptions[]): MethodDecorator => SetMetadata(CACHE_EVICT, options);

const PLAIN_KEY = /^[\w.:-]{1,100}$/;

/**
 * A bounded, safe key from any parts: plain short values stay readable, anything else (user input
 * such as search filters) becomes a SHA-256 digest, so no caller can make huge or odd Redis keys.
 */
export function cacheKey(...parts: unknown[]): string {
  const joined = parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part ?? null))).join(':');
  return PLAIN_KEY.test(joined) ? joined : createHash('sha256').update(joined).digest('base64url');
}
