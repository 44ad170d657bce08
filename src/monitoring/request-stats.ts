/** Width and number of the buckets behind the windowed error rate: the last 5 minutes, in 10 s steps. */
const BUCKET_MS = 10_000;
const BUCKETS = 30;

interface Bucket {
  start: number;
  requests: number;
  errors: number;
}

/**
 * Plain counters the HTTP hooks update on every request and the monitoring summary reads. The error
 * rate is over a sliding window (not since start), so it recovers once errors stop. Errors are 5xx
 * replies: a 4xx is the client's mistake, not the service failing.
 */
export class RequestStats {
  requests = 0;
  errors = 0;
  inFlight = 0;
  connections = 0;
  private readonly window: Bucket[] = Array.from({ length: BUCKETS }, () => ({ start: 0, requests: 0, errors: 0 }));

  record(status: number, now = Date.now()): void {
    const isError = status >= 500;
    this.requests += 1;
    if (isError) this.errors += 1;
    const start = now - (now % BUCKET_MS);
    const bucket = this.window[(start / BUCKET_MS) % BUCKETS];
    if (bucket.start !== start) Object.assign(bucket, { start, requests: 0, errors: 0 });
    bucket.requests += 1;
    if (isError) bucket.errors += 1;
  }

  /** Requests and 5xx errors over the last 5 minutes. */
  recent(now = Date.now()): { requests: number; errors: number; windowS: number } {
    const oldest = now - BUCKET_MS * BUCKETS;
    let requests = 0;
    let errors = 0;
    for (const bucket of this.window) {
      if (bucket.start <= oldest) continue;
      requests += bucket.requests;
      errors += bucket.errors;
    }
    return { requests, errors, windowS: (BUCKET_MS * BUCKETS) / 1000 };
  }
}
