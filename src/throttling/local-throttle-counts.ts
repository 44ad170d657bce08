import { LRUCache } from 'lru-cache';

/** What a check answers, as the Redis scripts do: hits, ms left in the window, blocked (0/1), ms left in the block. */
export type CheckAnswer = readonly [hits: number, windowMs: number, blocked: 0 | 1, blockMs: number];

/**
 * What a tier holds for a tracker, read without counting (the PEEK script): hits in the window, ms left in it, and ms
 * left in a block that holds under the running limit (0 without one; always 0 for a tier that refuses without blocks).
 */
export type PeekAnswer = readonly [hits: number, windowMs: number, blockMs: number];

/** One tracker (`<tier>:<client>`): what Redis keeps in its hits key and its block key. */
interface TrackerCount {
  hits: number;
  windowEndsAt: number;
  blockEndsAt: number;
  /** The limit the block was set under: a block holds only while the running limit is not above it. */
  blockLimit: number;
}

/**
 * The Redis scripts of RedisThrottlerStorage (CHECK, CHECK_FAILURES, REFUND) over counts in this process's memory, for
 * the checks Redis does not answer (docs/decisions/0030). Each answer is what the script would answer on the same
 * history, so the storage treats both alike.
 *
 * At most `maxKeys` trackers are held. To make room for a new one the least recently checked is forgotten, and its
 * client starts a fresh window: a client being limited checks its tracker on every request, so pushing it out takes
 * `maxKeys` other clients between two of its requests. Refusing new clients at the cap instead would lock out every
 * member who was not already counted. `onEvict` counts those forgotten.
 */
export class LocalThrottleCounts {
  private readonly trackers: LRUCache<string, TrackerCount>;

  constructor(
    maxKeys: number,
    onEvict: () => void,
    private readonly now: () => number = Date.now,
  ) {
    this.trackers = new LRUCache({
      max: maxKeys,
      dispose: (_count, _key, reason) => {
        if (reason === 'evict') onEvict();
      },
    });
  }

  /** CHECK: count the hit, start the window at the first, and block once the count passes the limit. */
  check(key: string, ttlMs: number, limit: number, blockMs: number): CheckAnswer {
    const now = this.now();
    const tracker = this.trackerOf(key);
    if (tracker.blockEndsAt > now && tracker.blockLimit >= limit) {
      // As the script: a window that ended reads as a full one (it reports hits it no longer has).
      const hits = tracker.windowEndsAt > now ? tracker.hits : limit;
      return [hits, this.windowLeft(tracker, now), 1, tracker.blockEndsAt - now];
    }
    const hits = this.countHit(tracker, ttlMs, now);
    if (hits <= limit) return [hits, this.windowLeft(tracker, now), 0, 0];
    tracker.blockLimit = limit;
    tracker.blockEndsAt = now + blockMs;
    return [hits, this.windowLeft(tracker, now), 1, blockMs];
  }

  /** CHECK_FAILURES: at the limit, refuse without counting and without a block, until refunds or the window end. */
  checkFailures(key: string, ttlMs: number, limit: number): CheckAnswer {
    const now = this.now();
    const tracker = this.trackerOf(key);
    if (this.hitsOf(tracker, now) >= limit) {
      const windowMs = this.windowLeft(tracker, now);
      return [tracker.hits, windowMs, 1, windowMs];
    }
    const hits = this.countHit(tracker, ttlMs, now);
    return [hits, this.windowLeft(tracker, now), 0, 0];
  }

  /**
   * REFUND: takes back one hit per key from a window still running, never below zero, never creating a tracker, and
   * lifts a block once the count is back under the limit it was set under.
   */
  refund(keys: readonly string[]): void {
    const now = this.now();
    for (const key of keys) {
      const tracker = this.trackers.get(key);
      if (!tracker || this.hitsOf(tracker, now) === 0) continue;
      tracker.hits -= 1;
      if (tracker.blockEndsAt > now && tracker.hits < tracker.blockLimit) tracker.blockEndsAt = 0;
    }
  }

  /** PEEK: the tracker's count and block as a check would find them, neither counting nor creating a tracker. */
  peek(key: string, limit: number, failuresOnly: boolean): PeekAnswer {
    const now = this.now();
    // Not get(): a read for a refusal's Retry-After should not keep a tracker from being forgotten.
    const tracker = this.trackers.peek(key);
    if (!tracker) return [0, 0, 0];
    const blocked = !failuresOnly && tracker.blockEndsAt > now && tracker.blockLimit >= limit;
    return [this.hitsOf(tracker, now), this.windowLeft(tracker, now), blocked ? tracker.blockEndsAt - now : 0];
  }

  /**
   * Takes what Redis answered a check of a tracker. A refusal is kept, the tracker made if need be: its count and
   * window, and its block where the tier blocks, so that a client Redis refuses stays refused through a stall. Any
   * other answer drops the tracker, Redis's count holding: kept for every client Redis answers, the memory meant for
   * outages (THROTTLE_LOCAL_MAX_KEYS) would hold each client the pod sees while Redis is up.
   */
  follow(key: string, [hits, windowMs, refused, blockMs]: CheckAnswer, limit: number, blocks: boolean): void {
    if (refused === 0) {
      this.trackers.delete(key);
      return;
    }
    const now = this.now();
    const tracker = this.trackerOf(key);
    tracker.hits = hits;
    tracker.windowEndsAt = now + Math.max(0, windowMs);
    tracker.blockEndsAt = blocks ? now + blockMs : 0;
    tracker.blockLimit = blocks ? limit : 0;
  }

  private trackerOf(key: string): TrackerCount {
    let tracker = this.trackers.get(key);
    if (!tracker) {
      tracker = { hits: 0, windowEndsAt: 0, blockEndsAt: 0, blockLimit: 0 };
      this.trackers.set(key, tracker);
    }
    return tracker;
  }

  /** The window's hits; none once it ended (Redis has expired the key by then). */
  private hitsOf(tracker: TrackerCount, now: number): number {
    return tracker.windowEndsAt > now ? tracker.hits : 0;
  }

  /** INCR, and the window's expiry set when the count becomes 1 (as the script, also after refunds brought it to 0). */
  private countHit(tracker: TrackerCount, ttlMs: number, now: number): number {
    tracker.hits = this.hitsOf(tracker, now) + 1;
    if (tracker.hits === 1) tracker.windowEndsAt = now + ttlMs;
    return tracker.hits;
  }

  private windowLeft(tracker: TrackerCount, now: number): number {
    return Math.max(0, tracker.windowEndsAt - now);
  }
}
