/** One second of the run, as the client saw it. */
export interface Second {
  t: number;
  phase: string;
  requests: number;
  errors: number;
  rateLimited: number;
  latencies: number[];
}

export interface ServerSample {
  t: number;
  cpuPercent: number;
  memoryMb: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Buckets client-side results by second since the start of the run. */
export class Timeline {
  readonly seconds: Second[] = [];
  private readonly started = performance.now();

  now(): number {
    return (performance.now() - this.started) / 1000;
  }

  private at(phase: string): Second {
    const t = Math.floor(this.now());
    while (this.seconds.length <= t)
      this.seconds.push({ t: this.seconds.length, phase, requests: 0, errors: 0, rateLimited: 0, latencies: [] });
    const second = this.seconds[t];
    second.phase = phase;
    return second;
  }

  response(phase: string, status: number, latencyMs: number): void {
    const second = this.at(phase);
    second.requests += 1;
    second.latencies.push(Math.round(latencyMs));
    if (status === 429) second.rateLimited += 1;
    else if (status >= 400) second.errors += 1;
  }

  failure(phase: string): void {
    const second = this.at(phase);
    second.requests += 1;
    second.errors += 1;
  }

  mark(phase: string): void {
    this.at(phase);
  }
}

/** CPU (share of one core) and resident memory of the target, from its Prometheus endpoint, twice a second. */
export class ServerSampler {
  readonly samples: ServerSample[] = [];
  private timer?: NodeJS.Timeout;
  private last?: { t: number; cpu: number };
  reachable = false;

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
    await this.sample();
  }

  private async sample(): Promise<void> {
    const text = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(450) })
      .then((response) => response.text())
      .catch(() => undefined);
    if (!text) return;
    const cpu = Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1]);
    const rss = Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1]);
    if (Number.isNaN(cpu) || Number.isNaN(rss)) return;
    this.reachable = true;
    const t = this.timeline.now();
    if (this.last) {
      this.samples.push({ t, cpuPercent: ((cpu - this.last.cpu) / (t - this.last.t)) * 100, memoryMb: rss / 2 ** 20 });
    }
    this.last = { t, cpu };
  }
}
