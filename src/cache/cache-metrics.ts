import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type CacheTier = 'l1' | 'l2';

/**
 * Why an instance empties its L1, having possibly missed invalidations: it subscribed to the channel again, its cache
 * connection to Redis came back, or a message said to drop everything (after a restore).
 */
export const L1_CLEAR_CAUSES = ['subscribed', 'redis_reconnected', 'everything'] as const;
export type L1ClearCause = (typeof L1_CLEAR_CAUSES)[number];

/** The cache's state as its gauges show it. */
export interface CacheState {
  /** Subscribed to the invalidation channel. */
  listening(): boolean;
  /** L1's entries and what they count against its bound (none with L1 off). */
  l1(): { entries: number; bytes: number };
}

/**
 * The series the monitoring module exposes: hits and misses per tier, loads, invalidations, L2 failures, L1 size,
 * evictions and clears, and whether the instance hears other instances' invalidations.
 */
export class CacheMetrics {
  private readonly hits: Counter<'cache' | 'tier'>;
  private readonly misses: Counter<'cache' | 'tier'>;
  private readonly loads: Histogram<'cache'>;
  private readonly invalidations: Counter<'cache' | 'source'>;
  private readonly l2Errors: Counter<'operation'>;
  private readonly staleAnswers: Counter<'cache' | 'reason'>;
  private readonly l1Evictions: Counter;
  private readonly l1Clears: Counter<'reason'>;
  /** Read at every scrape: not listening, an empty L1, until the cache says where to look. */
  private state: CacheState = { listening: () => false, l1: () => ({ entries: 0, bytes: 0 }) };

  constructor(registry: Registry) {
    this.hits = new Counter({
      name: 'cache_hits_total',
      help: 'Cache hits',
      labelNames: ['cache', 'tier'],
      registers: [registry],
    });
    this.misses = new Counter({
      name: 'cache_misses_total',
      help: 'Cache misses per tier: an l1 miss went on to Redis, an l2 miss called the loader',
      labelNames: ['cache', 'tier'],
      registers: [registry],
    });
    this.loads = new Histogram({
      name: 'cache_load_duration_seconds',
      help: 'Time spent computing values on a miss or early refresh',
      labelNames: ['cache'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.invalidations = new Counter({
      name: 'cache_invalidations_total',
      help: 'Keys and tags invalidated, by origin (a local write or a message from another instance)',
      labelNames: ['cache', 'source'],
      registers: [registry],
    });
    this.l2Errors = new Counter({
      name: 'cache_l2_errors_total',
      help: 'Redis cache operations that failed or timed out (served without L2)',
      labelNames: ['operation'],
      registers: [registry],
    });
    this.staleAnswers = new Counter({
      name: 'cache_stale_served_total',
      help: 'Answers with an expired value in grace because a reload failed or outlasted the soft timeout: once per reload that fell back (readers joining it not counted), and once per reader that stopped waiting for an early refresh or warm run',
      labelNames: ['cache', 'reason'],
      registers: [registry],
    });
    this.l1Evictions = new Counter({
      name: 'cache_l1_evictions_total',
      help: 'Unexpired L1 entries dropped, least recently used first, to stay within CACHE_L1_MAX_BYTES',
      registers: [registry],
    });
    this.l1Clears = new Counter({
      name: 'cache_l1_clears_total',
      help: 'Times this instance emptied its L1 because it may have missed invalidations, by reason (subscribed: to the invalidation channel again; redis_reconnected; everything: a restore)',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Exported at 0 from the start: a series born at 1 hides its first clear from increase() (the flapping alert's).
    for (const reason of L1_CLEAR_CAUSES) this.l1Clears.inc({ reason }, 0);
    const l1Size = () => this.state.l1();
    new Gauge({
      name: 'cache_l1_entries',
      help: "Entries in this instance's L1, expired ones included until dropped",
      registers: [registry],
      collect() {
        this.set(l1Size().entries);
      },
    });
    new Gauge({
      name: 'cache_l1_bytes',
      help: "What this instance's L1 entries count against CACHE_L1_MAX_BYTES (their JSON length, at least 256 each)",
      registers: [registry],
      collect() {
        this.set(l1Size().bytes);
      },
    });
    const listening = () => this.state.listening();
    new Gauge({
      name: 'cache_invalidation_listening',
      help: "1 while this instance hears other instances' cache invalidations; at 0 its L1 answers no read that Redis can",
      registers: [registry],
      collect() {
        this.set(listening() ? 1 : 0);
      },
    });
  }

  /** Where the gauges read the cache's state at a scrape. */
  observe(state: CacheState): void {
    this.state = state;
  }

  l1Evicted(): void {
    this.l1Evictions.inc();
  }

  l1Cleared(reason: L1ClearCause): void {
    this.l1Clears.inc({ reason });
  }

  hit(cache: string, tier: CacheTier): void {
    this.hits.inc({ cache, tier });
  }

  miss(cache: string, tier: CacheTier): void {
    this.misses.inc({ cache, tier });
  }

  loaded(cache: string, ms: number): void {
    this.loads.observe({ cache }, ms / 1000);
  }

  /** `count`: keys plus tags invalidated (the same unit for local writes and remote messages). */
  invalidated(cache: string, source: 'local' | 'remote', count: number): void {
    if (count > 0) this.invalidations.inc({ cache, source }, count);
  }

  l2Error(operation: string): void {
    this.l2Errors.inc({ operation });
  }

  servedStale(cache: string, reason: 'failed' | 'slow'): void {
    this.staleAnswers.inc({ cache, reason });
  }
}
