import { SECOND_INVALIDATION_MS } from '../../src/cache/tiered-cache.js';

/**
 * Resolves once the second pass of every invalidation started so far has run. A write (a profile create included)
 * drops its entries, and again SECOND_INVALIDATION_MS later: a test that loads an entry right after a write and then
 * counts database reads, or needs the entry while the database is down, would see that second pass drop it. The
 * margin covers a timer that fires late on a loaded CI machine.
 */
export const secondInvalidationsDone = (): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, SECOND_INVALIDATION_MS + 700));
