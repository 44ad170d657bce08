/** What both tiers store: the value, its logical expiry and how long it took to compute. */
export interface CacheEntry<T = unknown> {
  v: T;
  /** Expiry, ms since epoch. */
  exp: number;
  /** Loader duration in ms (XFetch weighs early refresh by it). */
  d: number;
  /**
   * When its load started, ms since epoch: after a lost Redis connection, older entries in Redis are not trusted
   * (L2Store.reconnected). Absent in entries written by versions before it, which count as old.
   */
  w?: number;
}

/**
 * XFetch (Vattani, Chierichetti, Lowenstein 2015): refresh early with a probability that grows as
 * expiry nears and with the cost of recomputing, so a hot key is recomputed once before it expires
 * instead of by a stampede after. `random` is injectable for tests.
 */
export function shouldRefreshEarly(entry: CacheEntry, now: number, beta = 1, random = Math.random): boolean {
  return now - entry.d * beta * Math.log(random()) >= entry.exp;
}

/**
 * TTL in ms with up to `jitter` (a fraction) added, so entries written together do not expire together. At least 1:
 * Redis refuses a SET with PX 0 or less, and a refused write skips Redis for every key for L2_BACKOFF_MS.
 */
export function jitteredTtlMs(ttlS: number, jitter: number, random = Math.random): number {
  return Math.max(1, Math.round(ttlS * 1000 * (1 + jitter * random())));
}
