import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { withTimeout } from '../common/with-timeout.js';
import { jitteredTtlMs, shouldRefreshEarly, type CacheEntry } from './cache-entry.js';
import type { CacheMetrics, L1ClearCause } from './cache-metrics.js';
import { InvalidationSubscription, type InvalidationMessage } from './invalidation-subscription.js';
import { L1Store } from './l1-store.js';
import { LateInvalidations } from './late-invalidations.js';
import { L2_BACKOFF_MS, L2Store } from './l2-store.js';

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
   * Whether to keep a loaded value. A refused one still answers the readers of its flight, is kept nowhere (a copy it
   * would have replaced, this instance's and Redis's, is dropped), and the next read loads again: for absences that
   * end, such as a media variant not made yet.
   */
  storeIf?: (value: T) => boolean;
  /**
   * A shorter grace period than CACHE_GRACE_S for this cache's entries, in seconds: how long past its TTL an entry is
   * kept, in both tiers, and answers for a reload that fails or is slow. 0 for values that must never answer once
   * expired, where an old value grants what a write took away (ended sessions); short for caches keyed by what clients
   * choose (search pages), each of whose entries Redis holds that long.
   */
  maxGraceS?: number;
  /**
   * How long a loaded `null` (nothing found) is kept, in seconds, instead of `ttlS`, and without a grace period: for
   * caches keyed by ids a client chooses, where every made-up id would otherwise hold an entry in Redis and in L1 for
   * the TTL plus CACHE_GRACE_S.
   */
  absentTtlS?: number;
  /**
   * Whether a value read from Redis is one of this cache's. One that is not (written by hand, or by something else
   * under the key) is a miss: loaded again, and the load replaces it. For values whose shape a check relies on
   * (ended sessions): a session list of another shape was a 500 on every request of the member while the entry lasted.
   */
  isValue?: (value: unknown) => boolean;
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
 * A loader on another instance that read the database just before a write can store the old value after the
 * invalidation, in L2 and, from there, in any L1 that reads it meanwhile; so the invalidation runs once more.
 */
export const SECOND_INVALIDATION_MS = 500;
/** See TieredCacheOptions.reloadRetryMs: a database that just failed is not asked again by every request. */
const RELOAD_RETRY_MS = 5_000;

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
  private readonly l1?: L1Store;
  private readonly l2: L2Store;
  private readonly subscription: InvalidationSubscription;
  private readonly inflight = new Map<string, Flight>();
  private replayTimer?: NodeJS.Timeout;
  private readonly late = new LateInvalidations((fullKeys, tags) => this.invalidateEverywhere(fullKeys, tags));
  /** Per cache, what writes whose message failed invalidated: the next message that gets through counts it for peers. */
  private readonly uncounted = new Map<string, number>();

  constructor(
    redis: Redis,
    subscriber: Redis,
    private readonly metrics: CacheMetrics,
    private readonly options: TieredCacheOptions,
  ) {
    if (options.l1Enabled) this.l1 = new L1Store(options.l1MaxBytes, () => metrics.l1Evicted());
    this.l2 = new L2Store(redis, metrics, { timeoutMs: options.l2TimeoutMs });
    this.subscription = new InvalidationSubscription(subscriber, options.channel, this.instanceId, {
      onMessage: (message) => this.onMessage(message),
      onSubscribed: (reason) => this.clearL1('subscribed', reason),
    });
    metrics.observe({
      listening: () => this.subscription.listening,
      l1: () => ({ entries: this.l1?.size ?? 0, bytes: this.l1?.bytes ?? 0 }),
    });
  }

  /** Starts listening for other instances' invalidations. */
  async start(): Promise<void> {
    this.l2.watch(() => void this.resync());
    await this.subscription.start(this.options.channelCheckMs);
  }

  /** Stops checking the invalidation connection (before the connections close). */
  stop(): void {
    this.subscription.stop();
    this.late.stop();
  }

  async wrap<T>(cache: string, key: string, loader: () => Promise<T>, options: WrapOptions<T>): Promise<T> {
    const fullKey = `cache:${cache}:${key}`;
    const held = this.l1?.get<T>(fullKey);
    const entry = this.l1Answers() ? held : undefined;
    if (entry && entry.exp > Date.now()) {
      this.metrics.hit(cache, 'l1');
      this.maybeRefreshEarly(cache, fullKey, entry, loader, options);
      return entry.v;
    }
    if (this.l1) this.metrics.miss(cache, 'l1');
    const running = this.inflight.get(fullKey);
    if (running?.refreshing) {
      // A refresh (early, or a warm run) is under way. With nothing in L1 to fall back on (L1 off, evicted, or the
      // entry too big for it), Redis' copy answers if still current, rather than the whole load.
      let fallback = this.inGrace(options, entry);
      if (!fallback) {
        const remote = await this.readL2(fullKey, options);
        if (remote && remote.exp > Date.now()) {
          this.metrics.hit(cache, 'l2');
          return remote.v;
        }
        fallback = this.inGrace(options, remote);
      }
      if (fallback) {
        // An expired copy in grace: the refresh is waited for only as long as a reload of the reader's own, and a
        // refresh that fails answers with the copy (until 2026-12-05 only an L1 copy did; one in Redis was ignored).
        const outcome = await settledWithin(running.promise as Promise<T>, this.options.softTimeoutMs ?? 0);
        if (outcome.status === 'fulfilled') return outcome.value;
        // Invalidated meanwhile, the copy is gone too: start over.
        if (running.stale) return this.wrap(cache, key, loader, options);
        this.metrics.servedStale(cache, outcome.status);
        return fallback.v;
      }
    }
    // One flight per key covers the Redis read and the load, so concurrent misses share both.
    return this.singleFlight(fullKey, options.tags, async (flight) => {
      const remote = await this.readL2(fullKey, options);
      if (remote && remote.exp > Date.now()) {
        this.metrics.hit(cache, 'l2');
        // Read before an invalidation that landed meanwhile: answer with it, but do not keep it.
        if (flight.stale) return remote.v;
        this.storeL1(fullKey, remote, JSON.stringify(remote).length, options);
        // After this flight has ended, so the refresh runs as a flight of its own that an invalidation can detach.
        if (shouldRefreshEarly(remote, Date.now()))
          setImmediate(() => this.refreshInBackground(cache, fullKey, loader, options));
        return remote.v;
      }
      // Deaf to invalidations, this instance asked Redis first; if Redis failed just now, its own copy is the best
      // there is (fail-open), as it is for an instance that hears them. Read again: L1 may have been cleared since
      // `held` was (by a resubscription while this reader waited for Redis), and this flight was not there to detach.
      const own = this.l1Answers() ? this.l1?.get<T>(fullKey) : undefined;
      if (own && own !== entry && own.exp > Date.now() && !flight.stale) {
        this.metrics.hit(cache, 'l1');
        return own.v;
      }
      this.metrics.miss(cache, 'l2');
      const fallback = this.inGrace(options, remote, own);
      // An invalidation since these were read drops them too.
      if (!fallback || flight.stale) return this.compute(cache, fullKey, loader, options, flight, false);
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
    const entry = this.l1Answers() ? this.l1?.get<T>(`cache:${cache}:${key}`) : undefined;
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

  /**
   * Whether L1 may answer: while this instance hears invalidations, or while Redis answers nothing at all (fail-open:
   * no instance hears any then, and L1 is the best there is). Deaf while Redis answers (its pub/sub connection lost
   * alone, as at Redis' client limit), it reads Redis, where writers delete what they change: its L1 would serve
   * changed entries for their whole TTL. Subscribed again, it empties L1 (onSubscribed).
   */
  private l1Answers(): boolean {
    return this.subscription.listening || !this.l2.available();
  }

  /** Redis' entry for the key, unless it holds no value of this cache (WrapOptions.isValue): that is logged. */
  private async readL2<T>(fullKey: string, options: WrapOptions<T>): Promise<CacheEntry<T> | undefined> {
    const entry = await this.l2.read<T>(fullKey, options.tags ?? []);
    if (!entry || !options.isValue || options.isValue(entry.v)) return entry;
    this.logger.warn(`${fullKey} in Redis holds no value of its cache (set by hand?): loaded again`);
    return undefined;
  }

  /** The newer of the expired entries found that is still within its grace period. */
  private inGrace<T>(options: WrapOptions<T>, ...found: (CacheEntry<T> | undefined)[]): CacheEntry<T> | undefined {
    const now = Date.now();
    const usable = found.filter((e): e is CacheEntry<T> => e !== undefined && e.exp + this.graceOf(options, e.v) > now);
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
    const loading = this.compute(cache, fullKey, loader, options, flight, true);
    const outcome = await settledWithin(loading, this.options.softTimeoutMs ?? 0);
    if (outcome.status === 'fulfilled') return outcome.value;
    if (flight.stale) return loading;
    flight.busyUntil = this.holdFlight(flight, loading, fallback.exp + this.graceOf(options, fallback.v));
    this.metrics.servedStale(cache, outcome.status);
    return fallback.v;
  }

  /**
   * Keeps a flight that answered with an expired value as the key's flight while its load runs, however long (one
   * slow query per key, not one per reader: a pool of 10 connections is soon taken by copies of a slow query), and
   * for reloadRetryMs after the load failed, so a database that failed is asked once per pause, not by every request;
   * but never past `servedUntil`, when the value it answered with leaves its grace period: the next reader then loads
   * afresh. A load still running then stores nothing: released, its flight is out of an invalidation's reach, and it
   * would put in L1 what it read before a write (until 2026-12-04 it did, for the entry's TTL).
   */
  private async holdFlight(flight: Flight, loading: Promise<unknown>, servedUntil: number): Promise<void> {
    const held = loading.then(
      () => 'held',
      () => sleep(this.options.reloadRetryMs ?? RELOAD_RETRY_MS, 'held', { ref: false }),
    );
    // Cancelled once the hold ends first: left to run, each failed reload kept a timer for the rest of the grace (an
    // hour by default), one more per key every reloadRetryMs for as long as the database stayed down.
    const holdEnded = new AbortController();
    const graceEnd = sleep(Math.max(0, servedUntil - Date.now()), 'released', {
      ref: false,
      signal: holdEnded.signal,
    }).catch(() => 'held');
    try {
      if ((await Promise.race([held, graceEnd])) === 'released') flight.stale = true;
    } finally {
      holdEnded.abort();
    }
  }

  /** Recomputes and stores a value whatever is cached (cache warming). */
  refresh<T>(cache: string, key: string, loader: () => Promise<T>, options: WrapOptions<T>): Promise<T> {
    const fullKey = `cache:${cache}:${key}`;
    return this.refreshFlight(cache, fullKey, loader, options);
  }

  /**
   * Removes keys (within `cache`) and tags everywhere: L2, this L1, and every other instance's L1. `afterFailure`: for
   * a write that failed and may still land (its answer was lost), they are invalidated again at
   * LATE_INVALIDATION_DELAYS_MS, so that a value read before the write landed is not cached for the TTL.
   */
  async invalidate(
    cache: string,
    keys: readonly string[],
    tags: readonly string[] = [],
    { afterFailure = false } = {},
  ): Promise<void> {
    const fullKeys = keys.map((key) => `cache:${cache}:${key}`);
    if (afterFailure) this.late.add(fullKeys, tags);
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
   * without queueing it). The replay deletes again and publishes again. The write's count travels with the next
   * message that gets through (until 2026-12-05 peers never counted it); a message that timed out but arrived anyway
   * is counted twice.
   */
  private async publish(fullKeys: readonly string[], tags: readonly string[], cache?: string): Promise<void> {
    const uncounted = this.uncounted.size ? Object.fromEntries(this.uncounted) : undefined;
    const message: InvalidationMessage = {
      origin: this.instanceId,
      keys: [...fullKeys],
      tags: [...tags],
      cache,
      uncounted,
    };
    if (await this.l2.publish(this.options.channel, JSON.stringify(message))) {
      for (const [name, count] of Object.entries(uncounted ?? {})) this.addUncounted(name, -count);
      return;
    }
    if (cache) this.addUncounted(cache, fullKeys.length + tags.length);
    this.l2.addPending(fullKeys, tags);
    this.replayLater();
  }

  private addUncounted(cache: string, count: number): void {
    const total = (this.uncounted.get(cache) ?? 0) + count;
    if (total > 0) this.uncounted.set(cache, total);
    else this.uncounted.delete(cache);
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
    const refresh = (flight: Flight) => this.compute(cache, fullKey, loader, options, flight, true);
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
    const end = () => {
      if (this.inflight.get(fullKey) === flight) this.inflight.delete(fullKey);
    };
    // Ended before its callers hear the outcome: ended a few ticks later, a caller that retried in its catch joined
    // the flight that had just failed and got its error again, without the loader running.
    const promise = work(flight).finally(() => {
      if (!flight.busyUntil) end();
    });
    // However the work ends, the flight stays until busyUntil (which never rejects) settles.
    void promise
      .catch(() => undefined)
      .then(() => flight.busyUntil)
      .finally(end);
    flight.promise = promise;
    this.inflight.set(fullKey, flight);
    return promise;
  }

  /**
   * Runs the loader and stores the result in both tiers (L2 before resolving, so peers see it). `replacing`: a copy
   * may be kept (a refresh, or an expired value in grace), which a refused result must drop. A plain miss has none, and
   * drops nothing: every lookup of an absent file would otherwise write to Redis, or to the pending deletions while
   * Redis is down, under an id the client chose.
   */
  private async compute<T>(
    cache: string,
    fullKey: string,
    loader: () => Promise<T>,
    options: WrapOptions<T>,
    flight: Flight,
    replacing: boolean,
  ): Promise<T> {
    const loadedAt = Date.now();
    const stamp = await this.l2.readGenerations(fullKey, options.tags ?? []);
    const started = performance.now();
    const value = await loader();
    const duration = performance.now() - started;
    this.metrics.loaded(cache, duration);
    if (flight.stale) return value;
    if (options.storeIf?.(value) === false) {
      if (!replacing) return value;
      // A refresh can refuse what replaces a kept value (a file found gone): the old one must not answer on.
      this.l1?.delete(fullKey);
      await this.deleteL2([fullKey], []);
      return value;
    }
    const ttlS = value === null ? (options.absentTtlS ?? options.ttlS) : options.ttlS;
    const ttlMs = jitteredTtlMs(ttlS, this.options.ttlJitter);
    const entry: CacheEntry<T> = { v: value, exp: Date.now() + ttlMs, d: duration, w: loadedAt };
    const serialised = JSON.stringify(entry);
    this.storeL1(fullKey, entry, serialised.length, options);
    if (stamp)
      await this.l2.write(fullKey, serialised, ttlMs + this.graceOf(options, value), stamp, options.tags ?? []);
    return value;
  }

  private storeL1(
    fullKey: string,
    entry: CacheEntry,
    bytes: number,
    options: Pick<WrapOptions, 'tags' | 'maxGraceS' | 'absentTtlS'>,
  ): void {
    const keepMs = Math.max(1, entry.exp - Date.now()) + this.graceOf(options, entry.v);
    this.l1?.set(fullKey, entry, bytes, keepMs, options.tags);
  }

  private dropLocal(fullKeys: readonly string[], tags: readonly string[]): void {
    const keys = this.l1?.takeTagged(tags) ?? new Set<string>();
    for (const key of fullKeys) keys.add(key);
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

  private onMessage(message: InvalidationMessage): void {
    if (message.everything) return this.clearL1('everything', 'every entry invalidated');
    this.dropLocal(message.keys, message.tags);
    // In the unit of the writer's local count: keys plus tags, once per write, under the cache it named.
    if (message.cache) this.metrics.invalidated(message.cache, 'remote', message.keys.length + message.tags.length);
    for (const [cache, count] of Object.entries(message.uncounted ?? {})) {
      this.metrics.invalidated(cache, 'remote', count);
    }
  }

  /** How long past its TTL an entry holding `value` is kept (none for an absence kept under absentTtlS). */
  private graceOf(options: Pick<WrapOptions, 'maxGraceS' | 'absentTtlS'>, value: unknown): number {
    if (value === null && options.absentTtlS !== undefined) return 0;
    return Math.min(this.options.graceMs ?? 0, (options.maxGraceS ?? Infinity) * 1000);
  }

  /** Failed, the deletion is pending (Redis reads it as a miss) and replayed, which tells the other instances again. */
  private async deleteL2(fullKeys: readonly string[], tags: readonly string[]): Promise<boolean> {
    const deleted = await this.l2.delete(fullKeys, tags);
    if (!deleted) this.replayLater();
    return deleted;
  }

  /**
   * Redis is back (and L2Store has judged what it kept through the outage): replay deletions that failed and forget
   * L1 state that may have missed messages.
   */
  private async resync(): Promise<void> {
    this.clearL1('redis_reconnected', 'Redis reconnected');
    await this.replayFailedDeletes();
  }

  /**
   * Replayed every L2_BACKOFF_MS until Redis takes both the deletion and the message, and on reconnect or the next
   * invalidation; meanwhile L2Store reads these keys and tags as misses.
   */
  private replayLater(): void {
    if (this.replayTimer) return;
    this.replayTimer = setTimeout(() => {
      this.replayTimer = undefined;
      void this.replayFailedDeletes();
    }, L2_BACKOFF_MS).unref();
  }

  private async replayFailedDeletes(): Promise<void> {
    // Not while Redis is skipped: the timer tries again. Sent unwaited with each write's own deletion, the whole
    // pending set went out again at every write, growing with each: 4 MB in 3 s of about 90 writes a second to a
    // stalled Redis (0.7 MB without these replays), all of it queued in the client.
    if (!this.l2.available()) return this.replayLater();
    const failed = this.l2.takePending();
    if (!failed) return;
    // Other instances may have kept the old values in L1 all along (their Redis connections never dropped):
    // they hear of the deletion now. deleteL2 and publish queue again whatever fails again.
    if (!(await this.deleteL2(failed.keys, failed.tags))) return;
    // No longer pending while the deletion was on its way, the keys were read from Redis, old values included, and
    // this instance does not hear its own message.
    this.dropLocal(failed.keys, failed.tags);
    await this.publish(failed.keys, failed.tags);
  }

  /** `cause` labels the metric; `reason` is logged. */
  private clearL1(cause: L1ClearCause, reason: string): void {
    // Running loads may have read before a missed invalidation too, whether or not L1 holds anything.
    for (const key of [...this.inflight.keys()]) this.detachFlight(key);
    if (!this.l1?.size) return;
    this.logger.log(`Clearing L1 cache: ${reason}`);
    this.metrics.l1Cleared(cause);
    this.l1.clear();
  }
}

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
