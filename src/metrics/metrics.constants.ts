export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/**
 * How long a scrape waits for one read from MongoDB or Redis before it keeps the last value (or leaves the series
 * out). Measured on our side: a server that hangs never answers a server-side limit such as maxTimeMS, and the
 * driver's socket timeout (45 s) would outlast any scrape timeout, losing every metric just when they matter.
 */
export const SCRAPE_READ_TIMEOUT_MS = 500;
