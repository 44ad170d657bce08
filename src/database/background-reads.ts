import type { AppConfig } from '../config/app-config.js';

/** A quarter of the pool: the rest stays free for requests. */
const POOL_SHARE = 4;

/**
 * How many reads one piece of work beside the requests (a cache warm run, the city names of a cities load) may have in
 * flight at once. It shares the MongoDB pool with requests: given the whole pool, a warm run's 1,000 status reads, or a
 * cities load's 200 name reads, queued ahead of every request's, which then waited past their deadline (503) or took
 * seconds instead of milliseconds.
 */
export function backgroundReads(mongo: Pick<AppConfig['mongo'], 'maxPoolSize'>): number {
  return Math.max(1, Math.floor(mongo.maxPoolSize / POOL_SHARE));
}
