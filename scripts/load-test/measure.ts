/** The requests sent in one second of the run, as the client saw them (a late answer counts where it was asked). */
export interface Second {
  t: number;
  phase: string;
  requests: number;
  /** Requests that got a response, whatever its status (the rest failed: timed out, connection lost). */
  answered: number;
  errors: number;
  rateLimited: number;
  latencies: number[];
}

export interface ServerSample {
  t: number;
  /** Absent until a second reading gives a span to measure over. */
  cpuPercent?: number;
  memoryMb: number;
  /** The server's cached reads so far; absent when it exports no cache series. */
  cache?: CacheReads;
}

export interface CacheReads {
  /** Reads answered from either tier. */
  hits: number;
  /** Reads that called the loader: the database. */
  misses: number;
}

/**
 * The API's cached reads so far, counted as its hit-ratio alerts count them: hits in L1 or Redis against loads
 * (`tier="l2"` misses), without the token check's session lookups (`account-sessions`, one per authenticated request).
 */
export function cacheReads(metricsText: string): CacheReads | undefined {
  let found = false;
  const reads = { hits: 0, misses: 0 };
  for (const [, kind, labels, value] of metricsText.matchAll(/^cache_(hits|misses)_total\{([^}]*)\} (\S+)$/gm)) {
    found = true;
    if (labels.includes('cache="account-sessions"')) continue;
    if (kind === 'hits') reads.hits += Number(value);
    else if (labels.includes('tier="l2"')) reads.misses += Number(value);
  }
  return found ? reads : undefined;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Buckets client-side results by second since the start of the run. */
export class Timeline {
  readonly seconds: Second[] = [];
  private readonly started = performance.now();
  /** The phase marked last: every second not yet made began in it, since a mark makes all seconds up to its own. */
  private lastMarked?: string;

  now(): number {
    return (performance.now() - this.started) / 1000;
  }

  /**
   * Second `t` (by default the current one), created with those before it if need be, in the phase marked last (in
   * `firstPhase` before any mark). Not in the caller's phase: the mark of a new phase would take into it the last
   * seconds of the phase before when none of their requests had ended yet and the sender, running late, had marked
   * none of them on its way.
   */
  private at(firstPhase: string, t = Math.floor(this.now())): Second {
    while (this.seconds.length <= t)
      this.seconds.push({
        t: this.seconds.length,
        phase: this.lastMarked ?? firstPhase,
        requests: 0,
        answered: 0,
        errors: 0,
        rateLimited: 0,
        latencies: [],
      });
    // Its phase is the one it began in: an answer or a failure filed late keeps its own phase, not this second's.
    return this.seconds[t];
  }

  /**
   * Filed under the second it was sent in: filed when it ended, a slow answer would leave the seconds after a spike
   * looking healthy until it arrived, and the recovery check would pass on the fast answers alone.
   */
  private sentAt(phase: string, tookMs: number): Second {
    return this.at(phase, Math.max(0, Math.floor(this.now() - tookMs / 1000)));
  }

  response(phase: string, status: number, latencyMs: number): void {
    const second = this.sentAt(phase, latencyMs);
    second.requests += 1;
    second.answered += 1;
    second.latencies.push(Math.round(latencyMs));
    if (status === 429) second.rateLimited += 1;
    else if (status >= 400) second.errors += 1;
  }

  /**
   * A request without a response, after `elapsedMs` (filed under the second it was sent in). Its wait goes into the
   * latencies as well, whatever ended it: the client waited that long, and leaving it out would let the slowest
   * requests vanish from p99 and max. Until 2026-12-08 only timeouts counted there, so a request the target held for
   * seconds and then cut off (a reset connection) passed "no request over 2000 ms" while under the 1 % error budget.
   */
  failure(phase: string, elapsedMs: number): void {
    const second = this.sentAt(phase, elapsedMs);
    second.requests += 1;
    second.errors += 1;
    second.latencies.push(Math.round(elapsedMs));
  }

  /** The current second belongs to `phase` (called when a phase starts, and while it runs). */
  mark(phase: string): void {
    this.at(phase).phase = phase;
    this.lastMarked = phase;
  }
}

const CPU_WINDOW_S = 2;
const SCRAPE_TIMEOUT_MS = 5_000;

/**
 * CPU (share of one core), resident memory and cached reads of the target, from its Prometheus endpoint, twice a
 * second.
 */
export class ServerSampler {
  readonly samples: ServerSample[] = [];
  private timer?: NodeJS.Timeout;
  /** CPU counter readings; the percentage is taken over at least CPU_WINDOW_S, so one short scrape gap does not spike it. */
  private readonly readings: { t: number; cpu: number }[] = [];
  private inFlight = false;
  /** Why the last scrape gave no sample, for the report when none did. */
  problem?: string;

  constructor(
    private readonly metricsUrl: string,
    private readonly timeline: Timeline,
  ) {}

  start(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), 500);
  }

  /** Takes a last sample, so even a short run has a CPU figure. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    while (this.inFlight) await new Promise((resolve) => setTimeout(resolve, 50));
    await this.sample();
  }

  private async sample(): Promise<void> {
    // A scrape can take a second on a busy development server; one at a time, each allowed SCRAPE_TIMEOUT_MS.
    if (this.inFlight) return;
    this.inFlight = true;
    const text = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) })
      .then(async (response) => {
        if (!response.ok) throw new Error(`answered ${response.status}`);
        return response.text();
      })
      .catch((error: unknown) => void (this.problem = scrapeProblem(error)))
      .finally(() => (this.inFlight = false));
    if (text === undefined) return;
    const cpu = Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
    const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1]);
    if (Number.isNaN(cpu) || Number.isNaN(rss)) {
      this.problem = 'its answer has no process_cpu_seconds_total or process_resident_memory_bytes';
      return;
    }
    const t = this.timeline.now();
    // Over CPU_WINDOW_S when the run has lasted that long; in a shorter run, over what there is (the first reading on).
    const base = this.readings.findLast((reading) => reading.t <= t - CPU_WINDOW_S) ?? this.readings[0];
    const cpuPercent = base && t > base.t ? ((cpu - base.cpu) / (t - base.t)) * 100 : undefined;
    this.samples.push({ t, cpuPercent, memoryMb: rss / 2 ** 20, cache: cacheReads(text) });
    this.readings.push({ t, cpu });
  }
}

/** What went wrong with a scrape, in a few words: fetch's own message ("fetch failed") names neither cause nor place. */
function scrapeProblem(error: unknown): string {
  const { name, message, cause } = error as Error;
  if (name === 'TimeoutError') return `no answer within ${SCRAPE_TIMEOUT_MS / 1000} s`;
  return cause instanceof Error ? cause.message : message;
}
