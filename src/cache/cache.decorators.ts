import { HttpException } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { TieredCache } from './tiered-cache.js';

/** Marks a class with @Cacheable / @CacheEvict methods, for CacheDecoratorsExplorer. */
export const USES_CACHE = 'vesta:uses-cache';
const APP_CACHE = Symbol('vesta:app-cache');
type CachedInstance = { [APP_CACHE]?: TieredCache };

// Method arguments are whatever the decorated method takes; the key builders receive them as given.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Args = any[];

export interface CacheableOptions {
  /** Cache name: a namespace and the metrics label. */
  name: string;
  /** Builds the key from the method's arguments. Long or unusual keys are hashed (see cacheKey). */
  key: (...args: Args) => string;
  ttlS: number;
  /** Tags for group invalidation (e.g. every search page), or their builder from the method's arguments. */
  tags?: readonly string[] | ((...args: Args) => readonly string[]);
  /** Keeps only the results this accepts (see WrapOptions.storeIf). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  storeIf?: (value: any) => boolean;
  /** See WrapOptions.maxGraceS. */
  maxGraceS?: number;
  /** See WrapOptions.absentTtlS. */
  absentTtlS?: number;
  /** See WrapOptions.isValue. */
  isValue?: (value: unknown) => boolean;
}

export interface CacheEvictOptions {
  name: string;
  /** Keys within `name` to remove after the method succeeds, from its arguments. */
  keys?: (...args: Args) => string[];
  /** Tags to drop: every one a call can affect, which a failed call drops (see CacheEvict). */
  tags?: readonly string[];
  /**
   * Once the method resolved, the tags to drop instead of `tags`, from its result and arguments: those its write did
   * affect (e.g. the pages of the places a profile left and entered).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  tagsOf?: (result: any, ...args: Args) => readonly string[];
  /**
   * Evicts after the method resolved only when this holds for its result and arguments (e.g. only for a write that
   * moved an entry in a list). After a failure, what the method wrote is unknown: the entries go regardless.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  when?: (result: any, ...args: Args) => boolean;
}

/**
 * Carries out one eviction spec for a call's arguments, as for a failed call (without `when` and `tagsOf`): what
 * @CacheEvict does, also for code that evicts by hand. `afterFailure`: the write failed and may still land, so the
 * entries are evicted again later (TieredCache.invalidate).
 */
export async function evict(
  cache: Pick<TieredCache, 'invalidate'>,
  eviction: CacheEvictOptions,
  args: readonly unknown[],
  { afterFailure = false } = {},
): Promise<void> {
  const keys = eviction.keys?.(...args) ?? [];
  const tags = eviction.tags ?? [];
  if (keys.length || tags.length) await cache.invalidate(eviction.name, keys, tags, { afterFailure });
}

/** Caches the method's resolved value in both tiers (see TieredCache). The method must return a Promise. */
export const Cacheable = ({ tags, ...options }: CacheableOptions): MethodDecorator => {
  // Built once unless the tags come from the arguments: the profile read is a hot path.
  const fixed = { ...options, tags: typeof tags === 'function' ? undefined : tags };
  const optionsFor =
    typeof tags === 'function' ? (args: unknown[]) => ({ ...fixed, tags: tags(...args) }) : () => fixed;
  return replaceMethod((call, cache, args) =>
    cache.wrap(options.name, options.key(...args), () => call(...args), optionsFor(args)),
  );
};

/**
 * After the method resolves, invalidates keys and tags on every instance (the specs side by side). Also after it
 * fails with anything but an HTTP error: an HTTP error is the method refusing before it wrote, while a database
 * failure or timeout may come after the write landed (an update read back on a connection that just died), and an
 * entry kept then would show the old data, a profile just hidden included, for its whole TTL. A failure evicts every
 * spec, whatever its `when`, and again later, for a write that lands after its failure.
 */
export const CacheEvict = (...options: CacheEvictOptions[]): MethodDecorator =>
  replaceMethod(async (call, cache, args) => {
    const evictEach = (evictions: CacheEvictOptions[], afterFailure = false) =>
      Promise.all(evictions.map((eviction) => evict(cache, eviction, args, { afterFailure })));
    let result: unknown;
    try {
      result = await call(...args);
    } catch (error) {
      if (!(error instanceof HttpException)) await evictEach(options, true);
      throw error;
    }
    let resolved: CacheEvictOptions[];
    try {
      resolved = options
        .filter((eviction) => !eviction.when || eviction.when(result, ...args))
        .map((eviction) => (eviction.tagsOf ? { ...eviction, tags: eviction.tagsOf(result, ...args) } : eviction));
    } catch (error) {
      // A predicate that fails cannot say what the write changed; it did write.
      await evictEach(options);
      throw error;
    }
    await evictEach(resolved);
    return result;
  });

/** Gives an instance's decorated methods its application's cache (two apps in one process keep their own). */
export function attachCache(instance: object, cache: TieredCache): void {
  (instance as CachedInstance)[APP_CACHE] = cache;
}

type Method = (...args: unknown[]) => Promise<unknown>;

/**
 * Replaces the method when the class is defined, so Nest registers the wrapper as the route handler too (routes are
 * registered before any module's init hook could swap methods on instances). The wrapper keeps the original's name
 * and metadata, whichever side of the route decorators it sits on.
 */
function replaceMethod(
  around: (call: Method, cache: TieredCache, args: unknown[]) => Promise<unknown>,
): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const original = descriptor.value as unknown as Method;
    const label = `${target.constructor.name}.${String(propertyKey)}`;
    const wrapped = async function (this: CachedInstance, ...args: unknown[]) {
      const cache = this[APP_CACHE];
      if (!cache) throw new Error(`${label} uses the cache, but CacheModule has not reached this instance`);
      return around((...callArgs) => original.apply(this, callArgs), cache, args);
    };
    for (const key of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), wrapped);
    }
    Object.defineProperty(wrapped, 'name', { value: original.name });
    Reflect.defineMetadata(USES_CACHE, true, target.constructor);
    descriptor.value = wrapped as unknown as typeof descriptor.value;
    return descriptor;
  };
}

const PLAIN_KEY = /^[\w.:-]{1,100}$/;

/**
 * A bounded, safe key from any parts: plain short values stay readable, anything else (user input
 * such as search filters) becomes a SHA-256 digest, so no caller can make huge or odd Redis keys.
 */
export function cacheKey(...parts: unknown[]): string {
  const joined = parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part ?? null))).join(':');
  return PLAIN_KEY.test(joined) ? joined : createHash('sha256').update(joined).digest('base64url');
}
