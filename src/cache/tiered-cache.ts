import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { withTimeout } from '../common/with-timeout.js';
import { jitteredTtlMs, shouldRefreshEarly, type CacheEntry } from './cache-entry.js';
import type { CacheMetrics } from './cache-metrics.js';

export interface TieredCacheOptions {
  l1Enabled: boolean;
  l1MaxBytes: number;
  ttlJitter: number;
  /** How long an L2 operation may take before it counts as failed (CACHE_L2_TIMEOUT_MS). */
  l2TimeoutMs: number;
  /** Pub/sub channel shared by all instances (already namespaced). */
  channel: string;
  /** How often the invalidation connection is checked (default CHANNEL_CHECK_MS). */
  channelCheckMs?: number;
  /** How long past its TTL an entry may still answer when its reload fails or is slow (CACHE_GRACE_S); default 0. */
  graceMs?: number;
  /** How long a request with such an entry to fall back on waits for the reload (CACHE_SOFT_TIMEOUT_MS). */
  softTimeoutMs?: number;
  /** After a failed reload, the old value answers this long before the loader is tried again (tests shorten it). */
  reloadRetryMs?: number;
}

export interface WrapOptions<T = unknown> {
  ttlS: number;
  tags?: readonly string[];
  /**
   * Whether to keep a loaded value. A refused one still answers the readers of its flight, replaces nothing (this
   * instance's copy and Redis's are dropped), and the next read loads again: for absences that end, such as a media
   * variant not made yet.
   */
  storeIf?: (value: T) => boolean;
}

/** A running miss for one key. Invalidated while running, its result may predate the write: returned, not kept. */
interface Flight {
  promise: Promise<unknown>;
  stale: boolean;
  /** The entry's tags: invalidating one of them detaches the flight, as invalidating its key does. */
  tags: readonly string[];
  /**
   * Set when the flight answered with an expired value before its load ended: it stays the key's flight until this
   * settles, so requests meanwhile get that answer at once and the loader is not called again.
   */
  busyUntil?: Promise<unknown>;
  /** An early refresh or a warm run: it has no fallback of its own, so readers with one do not wait long for it. */
  refreshing: boolean;
}

/**
 * The pub/sub channel of the instances sharing `keyPrefix`; anything that deletes cache keys elsewhere announces it
 * here.
 */
export function invalidationChannel(keyPrefix: string): string {
  return `${keyPrefix}cache:invalidate`;
}

/** Redis keys of tag sets start with this (after the client's key prefix). */
export const TAG_KEY_PREFIX = 'cache-tag:';
/**
 * Every invalidation gives each key and tag it names a new random generation, kept under this prefix for
 * GENERATION_TTL_MS. A load writes its value to Redis only if the generations it read before calling the loader are
 * unchanged, so a load that read the database before a write can never store its value after the write's deletion.
 */
export const GENERATION_KEY_PREFIX = 'cache-gen:';
const GENERATION_TTL_MS = 60_000;
/** A load that took longer than this is not written to Redis: its generations may have expired meanwhile. */
const GENERATION_MAX_LOAD_MS = GENERATION_TTL_MS - 10_000;

/** What an invalidation on the channel says: full entry keys (`cache:<name>:<key>`) and tags to drop. */
export interface InvalidationMessage {
  origin: string;
  keys: string[];
  tags: string[];
  /**
   * Drop every L1 entry and detach running loads (after a restore, when the database itself changed under the cache).
   * Versions before it was added ignore it.
   */
  everything?: boolean;
  /**
   * The cache the write named, for the metric; absent on repeats (the second pass and replays), which peers act on
   * but do not count again, and in messages from versions before it was added.
   */
  cache?: string;
}

/** After a Redis failure, skip L2 for this long instead of paying the timeout on every request. */
const L2_BACKOFF_MS = 1_000;
/**
 * A loader on another instance that read the database just before a write can store the old value after the
 * invalidation, in L2 and, from there, in any L1 that reads it meanwhile; so the invalidation runs once more.
 */
export const SECOND_INVALIDATION_MS = 500;
/**
 * The invalidation connection can die without a sign (a NAT or proxy idle timeout drops it silently, and TCP
 * notices after hours): it is pinged this often, and reconnected when two pings in a row go unanswered for
 * CHANNEL_PING_TIMEOUT_MS. That bounds how long a silently deaf instance serves entries changed elsewhere.
 */
const CHANNEL_CHECK_MS = 5_000;
const CHANNEL_PING_TIMEOUT_MS = 1_000;
/** See TieredCacheOptions.reloadRetryMs: a database that just failed is not asked again by every request. */
const RELOAD_RETRY_MS = 5_000;

/*
 * The two deletion scripts delete before they set the new generations. A script runs atomically, so the order makes no
 * difference to loads; it matters when Redis is full (maxmemory with noeviction, the policy Bull needs): Redis then
 * refuses a script whose first write may grow memory (a SET) but not one that has written already, as it cannot stop
 * a script halfway. Deleting first, the entries still go. (A MULTI with the SETs first was refused whole: peers that
 * dropped their L1 copies on the message read the old entries back from Redis for their whole TTL.)
 */

/** Deletes the entries KEYS[1 .. ARGV[1]] and gives each of them a new generation (the remaining KEYS), ARGV[2]. */
const DELETE_KEYS = `
local count = tonumber(ARGV[1])
for i = 1, count do redis.call('DEL', KEYS[i]) end
for i = count + 1, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'PX', ARGV[3]) end
return count`;

/** Deletes the tag's member keys and the tag set, then gives the tag a new generation, in one round trip. */
const DELETE_TAG = `
local keys = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(keys) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return #keys`;

/**
 * Stores an entry (KEYS[1]) unless one of the generation keys (KEYS[2 .. 1 + ARGV[4]]) has changed since the load
 * read them (ARGV[5 ..], '' for none), and adds it to its tag sets (the remaining KEYS). Each set lives as long as
 * its longest-lived member: NX gives a new set an expiry, GT only extends it. Returns 1 if stored.
 */
const STORE_IF_CURRENT = `
local generations = tonumber(ARGV[4])
for i = 1, generations do
  if (redis.call('GET', KEYS[1 + i]) or '') ~= ARGV[4 + i] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2 + generations, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  redis.call('PEXPIRE', KEYS[i], ARGV[2], 'NX')
  redis.call('PEXPIRE', KEYS[i], ARGV[2], 'GT')
end
return 1`;

/** The generations a load read before it started, and when (performance.now()). */
interface Stamp {
  keys: string[];
  values: string[];
  at: number;
}

/**
 * The L1 store: LRU bounded by the summed serialised size of its entries (JSON length; V8 keeps
 * ASCII strings at a byte per character, so this tracks the memory the values hold). The benchmark
 * uses the same factory to measure the hit ratio.
 */
export function createL1Cache(maxBytes: number, onEvict?: (key: string) => void): LRUCache<string, CacheEntry> {
  return new LRUCache<string, CacheEntry>({
    maxSize: maxBytes,
    dispose: onEvict ? (_entry, key) => onEvict(key) : undefined,
  });
}

/**
 * Two-tier cache: an in-process LRU bounded in bytes (L1) in front of Redis (L2).
 *
 * - Misses on one key within an instance call the loader once (single flight).
 * - Hot keys are refreshed in the background shortly before expiry (XFetch), so they never expire under load.
 * - Expired entries stay for a grace period and answer while their reload fails or is slow (fail-safe).
 * - Invalidation deletes from L2 and publishes on Redis pub/sub; every instance drops the key from its L1.
 * - Redis failures never fail a read or a write: L2 is skipped (fail open) and, once Redis is back,
 *   every L1 is cleared, entries Redis kept from before are reloaded and failed deletions are replayed, so no
 *   stale value survives the outage.
 */
export class TieredCache {
  private readonly logger = new Logger(TieredCache.name);
  private readonly instanceId = randomUUID();
  private readonly l1?: LRUCache<string, CacheEntry>;
  private readonly inflight = new Map<string, Flight>();
  /** L1 keys by tag (and tags by key, to forget evicted keys), for invalidating a tag without Redis. */
  private readonly l1Tags = new Map<string, Set<string>>();
  private readonly l1KeyTags = new Map<string, readonly string[]>();
  private readonly failedDeletes = { keys: new Set<string>(), tags: new Set<string>() };
  private l2SkipUntil = 0;
  /** Set when the command connection closes; the next 'ready' then distrusts what Redis holds (see resync). */
  private l2Dropped = false;
  /** Redis entries whose load started before this (ms since epoch) are misses: see resync. */
  private trustL2From = 0;
  private replayTimer?: NodeJS.Timeout;
  private subscribed = false;
  private channelCheck?: NodeJS.Timeout;
  private checkingChannel = false;
  private missedPings = 0;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly metrics: CacheMetrics,
    private readonly options: TieredCacheOptions,
  ) {
    if (options.l1Enabled) {
      this.l1 = createL1Cache(options.l1MaxBytes, (key) => this.forgetL1Key(key));
    }
  }

  /** Starts listening for other instances' invalidations. */
  async start(): Promise<void> {
    this.subscriber.on('message', (_channel: string, raw: string) => this.onMessage(raw));
    // Subscribing again on every (re)connect also covers a start while Redis was down, when the first
    // SUBSCRIBE failed; and a dropped subscription may have missed invalidations, so L1 starts over.
    this.subscriber.on('ready', () => void this.subscribeAndStartOver('pub/sub reconnected'));
    this.subscriber.on('close', () => (this.subscribed = false));
    this.redis.on('close', () => (this.l2Dropped = true));
    this.redis.on('ready', () => void this.resync());
    // Not connected yet (Redis was down at start): whatever it holds when it comes is treated as after an outage.
    if (this.redis.status !== 'ready') this.l2Dropped = true;
    const everyMs = this.options.channelCheckMs ?? CHANNEL_CHECK_MS;
    this.channelCheck = setInterval(() => void this.checkChannel(), everyMs).unref();
    await this.subscribe();
  }

  /** Stops checking the invalidation connection (before the connections close). */
  stop(): void {
    clearInterval(this.channelCheck);
  }

  /** Whether it worked; a failure is logged and retried by the channel check. */
  private async subscribe(): Promise<boolean> {
    this.subscribed = await this.subscriber.subscribe(this.options.channel).then(
      () => true,
      (error: Error) => {
        this.logger.warn(`Cache invalidation channel unavailable: ${error.message}`);
        return false;
      },
    );
    return this.subscribed;
  }

  /**
   * Cleared once subscribed (again): anything read before could have missed an invalidation. Not cleared while the
   * subscribe fails, since L1 would only refill unheard; the channel check retries it.
   */
  private async subscribeAndStartOver(reason: string): Promise<void> {
    if (await this.subscribe()) this.clearL1(reason);
  }

  /**
   * Subscribes again if the last attempt failed on a live connection; reconnects a connection that missed two pings
   * in a row (one slow second of Redis must not make every instance reconnect and empty its L1 at once).
   */
  private async checkChannel(): Promise<void> {
    if (this.subscriber.status !== 'ready' || this.checkingChannel) return; // reconnecting: 'ready' subscribes again
    this.checkingChannel = true;
    try {
      if (!this.subscribed) return await this.subscribeAndStartOver('pub/sub subscribed again');
      await withTimeout(this.subscriber.ping(), CHANNEL_PING_TIMEOUT_MS);
      this.missedPings = 0;
    } catch (error) {
      this.missedPings += 1;
      // The connection may have been replaced meanwhile: only a live one that stays silent is dropped.
      if (this.missedPings < 2 || this.subscriber.status !== 'ready') return;
      this.missedPings = 0;
      this.logger.warn(`Cache invalidation channel silent (${(error as Error).message}): reconnecting`);
      this.subscriber.disconnect(true);
    } finally {
      this.checkingChannel = false;
    }
  }

  async wrap<T>(cache: string, key: string, loader: () => Promise<T>, options: WrapOptions<T>): Promise<T> {
    const fullKey = `cache:${cache}:${key}`;
    const entry = this.l1?.get(fullKey) as CacheEntry<T> | undefined;
    if (entry && entry.exp > Date.now()) {
      this.metrics.hit(cache, 'l1');
      this.maybeRefreshEarly(cache, fullKey, entry, loader, options);
      return entry.v;
    }
    if (this.l1) this.metrics.miss(cache, 'l1');
    const running = this.inflight.get(fullKey);
    const ownFallback = running?.refreshing && this.inGrace(entry);
    if (running && ownFallback) {
      // Waited for only as long as a reload of the reader's own.
      const outcome = await settledWithin(running.promise as Promise<T>, this.options.softTimeoutMs ?? 0);
      if (outcome.status === 'fulfilled') return outcome.value;
      // Invalidated meanwhile, the entry is gone too: start over.
      if (running.stale) return this.wrap(cache, key, loader, options);
      this.metrics.servedStale(cache, outcome.status);
      return ownFallback.v;
    }
    // One flight per key covers the Redis read and the load, so concurrent misses share both.
    return this.singleFlight(fullKey, options.tags, async (flight) => {
      const remote = await this.readL2<T>(fullKey, options.tags ?? []);
      if (remote && remote.exp > Date.now()) {
        this.metrics.hit(cache, 'l2');
        // Read before an invalidation that landed meanwhile: answer with it, but do not keep it.
        if (flight.stale) return remote.v;
        this.storeL1(fullKey, remote, JSON.stringify(remote).length, options.tags);
        // After this flight has ended, so the refresh runs as a flight of its own that an invalidation can detach.
        if (shouldRefreshEarly(remote, Date.now()))
          setImmediate(() => this.refreshInBackground(cache, fullKey, loader, options));
        return remote.v;
      }
      this.metrics.miss(cache, 'l2');
      const fallback = this.inGrace(remote, entry);
      // An invalidation since these were read drops them too.
      if (!fallback || flight.stale) return this.compute(cache, fullKey, loader, options, flight);
      return this.computeOrFallBack(cache, fullKey, loader, options, flight, fallback);
    });
  }

  /**
   * The value this instance holds for a key, synchronously, if it has one that has not expired; otherwise undefined,
   * and the caller goes through wrap(). For checks made on every request that should await nothing in the common case
   * (JwtAuthGuard's session versions): invalidations from any instance drop the entry here as they do for wrap().
   * Always undefined with L1 off. Starts no early refresh: the entry is reloaded through wrap() once it expires.
   */
  peek<T>(cache: string, key: string): T | undefined {
    const entry = this.l1?.get(`cache:${cache}:${key}`) as CacheEntry<T> | undefined;
    if (!entry || entry.exp <= Date.now()) return undefined;
    this.metrics.hit(cache, 'l1');
    return entry.v;
  }

  /**
   * Drops this instance's copy of a key, and any load of it under way, so the next wrap() asks Redis or the loader.
   * Other instances are not told: for a reader that has learnt its own copy is behind (JwtAuthGuard, given a token
   * newer than the session version held here before the invalidation has arrived).
   */
  forgetLocal(cache: string, key: string): void {
    this.dropLocal([`cache:${cache}:${key}`], []);
  }

  /** The newer of the expired entries found that is still within its grace period. */
  private inGrace<T>(...found: (CacheEntry<T> | undefined)[]): CacheEntry<T> | undefined {
    const now = Date.now();
    const usable = found.filter((e): e is CacheEntry<T> => e !== undefined && e.exp + this.graceMs > now);
    return usable.sort((a, b) => b.exp - a.exp)[0];
  }

  /**
   * Fail-safe (as in bentocache and FusionCache): with an expired value in grace to fall back on, a reload that fails
   * or outlasts the soft timeout answers with that value. A slow load goes on and stores its result; after a failure
   * the old value answers for a pause before the loader is tried again (holdFlight). Invalidated meanwhile, the old
   * value is never served: the request waits for the load.
   */
  private async computeOrFallBack<T>(
    cache: string,
    fullKey: string,
    loader: () => Promise<T>,
    options: WrapOptions<T>,
    flight: Flight,
    fallback: CacheEntry<T>,
  ): Promise<T> {
    const loading = this.compute(cache, fullKey, loader, options, flight);
    const outcome = await settledWithin(loading, this.options.softTimeoutMs ?? 0);
    if (outcome.status === 'fulfilled') return outcome.value;
    if (flight.stale) return loading;
    flight.busyUntil = this.holdFlight(loading);
    this.metrics.servedStale(cache, outcome.status);
    return fallback.v;
  }

  /**
   * Keeps a flight that answered with an expired value as the key's flight while its load runs, however long (one
   * slow query per key, not one per reader: a pool of 10 connections is soon taken by copies of a slow query), and
   * for reloadRetryMs after the load failed, so a database that failed is asked once per pause, not by every request.
   */
  private async holdFlight(loading: Promise<unknown>): Promise<void> {
    await loading.then(
      () => undefined,
      () => sleep(this.options.reloadRetryMs ?? RELOAD_RETRY_MS, undefined, { ref: false }),
    );
  }

  /** Recomputes and stores a value whatever is cached (cache warming). */
  refresh<T>(cache: string, key: string, loader: () => Promise<T>, options: WrapOptions<T>): Promise<T> {
    const fullKey = `cache:${cache}:${key}`;
    return this.refreshFlight(cache, fullKey, loader, options);
  }

  /** Removes keys (within `cache`) and tags everywhere: L2, this L1, and every other instance's L1. */
  async invalidate(cache: string, keys: readonly string[], tags: readonly string[] = []): Promise<void> {
    const fullKeys = keys.map((key) => `cache:${cache}:${key}`);
    this.metrics.invalidated(cache, 'local', fullKeys.length + tags.length);
    await this.replayFailedDeletes();
    await this.invalidateEverywhere(fullKeys, tags, cache);
    setTimeout(() => void this.invalidateEverywhere(fullKeys, tags), SECOND_INVALIDATION_MS).unref();
  }

  /**
   * This L1 and its running loads, then L2, then every other instance's L1. The message goes out even when the
   * deletion failed: on a stalled connection both are late rather than lost, and peers drop their copies anyway.
   */
  private async invalidateEverywhere(
    fullKeys: readonly string[],
    tags: readonly string[],
    cache?: string,
  ): Promise<void> {
    this.dropLocal(fullKeys, tags);
    await this.deleteL2(fullKeys, tags);
    await this.publish(fullKeys, tags, cache);
  }

  /**
   * A message that failed is queued like a failed deletion: its deletion may have landed, and then nothing else would
   * tell the peers that hold the old value in L1 (a connection that closes between the two refuses the message
   * without queueing it). The replay deletes again and publishes again.
   */
  private async publish(fullKeys: readonly string[], tags: readonly string[], cache?: string): Promise<void> {
    const message: InvalidationMessage = { origin: this.instanceId, keys: [...fullKeys], tags: [...tags], cache };
    try {
      await this.l2(this.redis.publish(this.options.channel, JSON.stringify(message)));
    } catch {
      this.metrics.l2Error('publish');
      this.queueReplay(fullKeys, tags);
    }
  }

  private maybeRefreshEarly<T>(
    cache: string,
    fullKey: string,
    entry: CacheEntry<T>,
    loader: () => Promise<T>,
    options: WrapOptions<T>,
  ): void {
    if (shouldRefreshEarly(entry, Date.now())) this.refreshInBackground(cache, fullKey, loader, options);
  }

  private refreshInBackground<T>(
    cache: string,
    fullKey: string,
    loader: () => Promise<T>,
    options: WrapOptions<T>,
  ): void {
    if (this.inflight.has(fullKey)) return;
    this.refreshFlight(cache, fullKey, loader, options).catch((error: Error) =>
      this.logger.warn(`Early refresh of ${fullKey} failed: ${error.message}`),
    );
  }

  private refreshFlight<T>(
    cache: string,
    fullKey: string,
    loader: () => Promise<T>,
    options: WrapOptions<T>,
  ): Promise<T> {
    const refresh = (flight: Flight) => this.compute(cache, fullKey, loader, options, flight);
    return this.singleFlight(fullKey, options.tags, refresh, true);
  }

  /** Requests after an invalidation start a new flight; the old one finishes without storing. */
  private detachFlight(fullKey: string): void {
    const running = this.inflight.get(fullKey);
    if (!running) return;
    running.stale = true;
    this.inflight.delete(fullKey);
  }

  private singleFlight<T>(
    fullKey: string,
    tags: readonly string[] | undefined,
    work: (flight: Flight) => Promise<T>,
    refreshing = false,
  ): Promise<T> {
    const running = this.inflight.get(fullKey);
    if (running) return running.promise as Promise<T>;
    const flight: Flight = { promise: Promise.resolve(), stale: false, tags: tags ?? [], refreshing };
    const promise = work(flight);
    const end = () => {
      if (this.inflight.get(fullKey) === flight) this.inflight.delete(fullKey);
    };
    // However the work ends, the flight stays until busyUntil (which never rejects) settles.
    void promise
      .catch(() => undefined)
      .then(() => flight.busyUntil)
      .finally(end);
    flight.promise = promise;
    this.inflight.set(fullKey, flight);
    return promise;
  }

  /** Runs the loader and stores the result in both tiers (L2 before resolving, so peers see it). */
  private async compute<T>(
    cache: string,
    fullKey: string,
    loader: () => Promise<T>,
    options: WrapOptions<T>,
    flight: Flight,
  ): Promise<T> {
    const loadedAt = Date.now();
    const stamp = await this.readGenerations(fullKey, options.tags ?? []);
    const started = performance.now();
    const value = await loader();
    const duration = performance.now() - started;
    this.metrics.loaded(cache, duration);
    if (flight.stale) return value;
    if (options.storeIf?.(value) === false) {
      // A refresh can refuse what replaces a kept value (a file found gone): the old one must not answer on.
      this.l1?.delete(fullKey);
      await this.deleteL2([fullKey], []);
      return value;
    }
    const ttlMs = jitteredTtlMs(options.ttlS, this.options.ttlJitter);
    const entry: CacheEntry<T> = { v: value, exp: Date.now() + ttlMs, d: duration, w: loadedAt };
    const serialised = JSON.stringify(entry);
    this.storeL1(fullKey, entry, serialised.length, options.tags);
    if (stamp) await this.writeL2(fullKey, serialised, ttlMs, stamp, options.tags);
    return value;
  }

  private storeL1(fullKey: string, entry: CacheEntry, bytes: number, tags: readonly string[] = []): void {
    if (!this.l1) return;
    this.l1.set(fullKey, entry, { ttl: Math.max(1, entry.exp - Date.now()) + this.graceMs, size: bytes });
    // An entry larger than the whole bound is refused: no tags for it, or they would never be cleaned up.
    if (!tags.length || !this.l1.has(fullKey)) return;
    this.l1KeyTags.set(fullKey, tags);
    for (const tag of tags) {
      const members = this.l1Tags.get(tag) ?? new Set<string>();
      members.add(fullKey);
      this.l1Tags.set(tag, members);
    }
  }

  private forgetL1Key(fullKey: string): void {
    for (const tag of this.l1KeyTags.get(fullKey) ?? []) this.l1Tags.get(tag)?.delete(fullKey);
    this.l1KeyTags.delete(fullKey);
  }

  private dropLocal(fullKeys: readonly string[], tags: readonly string[]): void {
    const keys = new Set(fullKeys);
    for (const tag of tags) {
      for (const key of this.l1Tags.get(tag) ?? []) keys.add(key);
      this.l1Tags.delete(tag);
    }
    for (const key of keys) {
      this.l1?.delete(key);
      this.detachFlight(key);
    }
    // Loads still running are not in L1 yet: their tags decide.
    if (!tags.length) return;
    for (const [key, flight] of [...this.inflight]) {
      if (flight.tags.some((tag) => tags.includes(tag))) this.detachFlight(key);
    }
  }

  private onMessage(raw: string): void {
    try {
      const message = JSON.parse(raw) as InvalidationMessage;
      if (message.origin === this.instanceId) return;
      if (message.everything) return this.clearL1('every entry invalidated');
      this.dropLocal(message.keys, message.tags);
      // In the unit of the writer's local count: keys plus tags, once per write, under the cache it named.
      if (message.cache) this.metrics.invalidated(message.cache, 'remote', message.keys.length + message.tags.length);
    } catch {
      this.logger.warn('Ignored a malformed cache invalidation message');
    }
  }

  private get graceMs(): number {
    return this.options.graceMs ?? 0;
  }

  private l2Available(): boolean {
    return Date.now() >= this.l2SkipUntil;
  }

  /** An L2 operation, given up after l2TimeoutMs (the client's own command timeout is only a backstop). */
  private l2<T>(operation: Promise<T>): Promise<T> {
    return withTimeout(operation, this.options.l2TimeoutMs);
  }

  private l2Failed(operation: string): void {
    this.metrics.l2Error(operation);
    this.l2SkipUntil = Date.now() + L2_BACKOFF_MS;
  }

  private async readL2<T>(fullKey: string, tags: readonly string[]): Promise<CacheEntry<T> | undefined> {
    if (!this.l2Available()) return undefined;
    // Until a failed deletion has been replayed, Redis may still hold the old value: a miss, not a hit.
    if (this.failedDeletes.keys.has(fullKey) || tags.some((tag) => this.failedDeletes.tags.has(tag))) return undefined;
    let raw: string | null;
    try {
      raw = await this.l2(this.redis.get(fullKey));
    } catch {
      this.l2Failed('get');
      return undefined;
    }
    const entry = raw ? parseEntry<T>(raw) : undefined;
    return entry && (entry.w ?? 0) >= this.trustL2From ? entry : undefined;
  }

  /**
   * The current generations of the key and its tags, read before a load (see GENERATION_KEY_PREFIX); undefined when
   * Redis is skipped or fails, and then the load is not written to Redis.
   */
  private async readGenerations(fullKey: string, tags: readonly string[]): Promise<Stamp | undefined> {
    if (!this.l2Available()) return undefined;
    const keys = [keyGeneration(fullKey), ...tags.map(tagGeneration)];
    try {
      const values = await this.l2(this.redis.mget(...keys));
      return { keys, values: values.map((value) => value ?? ''), at: performance.now() };
    } catch {
      this.l2Failed('get');
      return undefined;
    }
  }

  private async writeL2(
    fullKey: string,
    serialised: string,
    ttlMs: number,
    stamp: Stamp,
    tags: readonly string[] = [],
  ): Promise<void> {
    if (!this.l2Available() || performance.now() - stamp.at > GENERATION_MAX_LOAD_MS) return;
    try {
      // Kept through the grace period, as a fallback for failed reloads (the entry's own exp says when it expired).
      const keepMs = ttlMs + this.graceMs;
      // Members are stored with the client's key prefix: the Lua script deletes them by name.
      const member = `${this.redis.options.keyPrefix ?? ''}${fullKey}`;
      const sets = tags.map((tag) => `${TAG_KEY_PREFIX}${tag}`);
      const keys = [fullKey, ...stamp.keys, ...sets];
      const args = [serialised, keepMs, member, stamp.keys.length, ...stamp.values];
      await this.l2(this.redis.eval(STORE_IF_CURRENT, keys.length, ...keys, ...args));
    } catch {
      this.l2Failed('set');
    }
  }

  /** False when Redis failed: the deletion is queued for replay, which tells the other instances again. */
  private async deleteL2(fullKeys: readonly string[], tags: readonly string[]): Promise<boolean> {
    try {
      if (fullKeys.length) {
        // The new generations in the same script as the deletion: a load that read before them cannot store after it.
        const keys = [...fullKeys, ...fullKeys.map(keyGeneration)];
        const args = [fullKeys.length, randomUUID(), GENERATION_TTL_MS];
        await this.l2(this.redis.eval(DELETE_KEYS, keys.length, ...keys, ...args));
      }
      for (const tag of tags) {
        const keys = [`${TAG_KEY_PREFIX}${tag}`, tagGeneration(tag)];
        await this.l2(this.redis.eval(DELETE_TAG, 2, ...keys, randomUUID(), GENERATION_TTL_MS));
      }
      return true;
    } catch {
      this.l2Failed('delete');
      this.queueReplay(fullKeys, tags);
      return false;
    }
  }

  /**
   * Replayed every L2_BACKOFF_MS until Redis takes both the deletion and the message, and on reconnect or the next
   * invalidation; meanwhile readL2 treats these keys and tags as misses.
   */
  private queueReplay(fullKeys: readonly string[], tags: readonly string[]): void {
    fullKeys.forEach((key) => this.failedDeletes.keys.add(key));
    tags.forEach((tag) => this.failedDeletes.tags.add(tag));
    this.replayLater();
  }

  /**
   * Redis is back: replay deletions that failed and forget L1 state that may have missed messages. After a lost
   * connection, entries Redis kept through the outage (a network outage, a failover, a restart from disk) may also
   * predate a write whose deletion failed on another instance, which replays it only once it is back itself, maybe
   * seconds later, maybe never if it died. So entries loaded before now are misses here: each key is loaded once more,
   * and the new entry, loaded after the write, is trusted by every instance.
   */
  private async resync(): Promise<void> {
    if (this.l2Dropped) this.trustL2From = Date.now();
    this.l2Dropped = false;
    this.clearL1('Redis reconnected');
    this.l2SkipUntil = 0;
    await this.replayFailedDeletes();
  }

  private replayLater(): void {
    if (this.replayTimer) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined;
      void this.replayFailedDeletes();
    }, L2_BACKOFF_MS).unref();
  }

  private async replayFailedDeletes(): Promise<void> {
    if (!this.failedDeletes.keys.size && !this.failedDeletes.tags.size) return;
    const keys = [...this.failedDeletes.keys];
    const tags = [...this.failedDeletes.tags];
    this.failedDeletes.keys.clear();
    this.failedDeletes.tags.clear();
    // Other instances may have kept the old values in L1 all along (their Redis connections never dropped):
    // they hear of the deletion now. deleteL2 and publish re-queue whatever fails again.
    if (await this.deleteL2(keys, tags)) await this.publish(keys, tags);
  }

  private clearL1(reason: string): void {
    // Running loads may have read before a missed invalidation too, whether or not L1 holds anything.
    for (const key of [...this.inflight.keys()]) this.detachFlight(key);
    if (!this.l1?.size) return;
    this.logger.log(`Clearing L1 cache: ${reason}`);
    this.l1.clear();
  }
}

/**
 * A value that is not an entry (broken JSON, `null`, another shape: written by something else under our key) is a
 * miss, not a Redis failure: counted as one, it made the instance skip Redis for every key, and the load never
 * replaced it, since the write was skipped too.
 */
function parseEntry<T>(raw: string): CacheEntry<T> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return isEntry<T>(parsed) ? parsed : undefined;
}

function isEntry<T>(value: unknown): value is CacheEntry<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entry = value as Partial<CacheEntry<T>>;
  return 'v' in entry && Number.isFinite(entry.exp) && Number.isFinite(entry.d);
}

const keyGeneration = (fullKey: string) => `${GENERATION_KEY_PREFIX}${fullKey}`;
const tagGeneration = (tag: string) => `${GENERATION_KEY_PREFIX}tag:${tag}`;

type Settled<T> = { status: 'fulfilled'; value: T } | { status: 'failed' | 'slow' };

/** How `promise` stands after `ms` (measured as withTimeout measures): its value, failed, or still running. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  let failed = false;
  const watched = promise.catch((error: unknown) => {
    failed = true;
    throw error;
  });
  try {
    return { status: 'fulfilled', value: await withTimeout(watched, ms) };
  } catch {
    return { status: failed ? 'failed' : 'slow' };
  }
}
