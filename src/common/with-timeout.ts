/** What `withTimeout` rejects with, so a caller can tell the wait running out from the operation failing. */
export class TimeoutError extends Error {}

/**
 * Rejects with "no answer within <ms> ms" if `promise` has not settled in time; the timer never keeps the process
 * alive. The time measured is time spent waiting for the other side, not time our own event loop was busy:
 * - the clock starts when the current turn of the loop ends, once what this turn queued has been sent (ioredis
 *   sends auto-pipelined commands then, after every request of a burst has been parsed);
 * - the deadline is enforced after the next I/O phase, so an answer that has already arrived is read first (timers
 *   run before I/O in each turn: without this, a lagging loop turns fast answers into timeouts).
 * A 50 ms Redis timeout measured from the call would fire whenever a burst of requests kept the loop busy for 50 ms,
 * however fast Redis answered.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    setImmediate(() => {
      if (settled) return;
      timer = setTimeout(() => setImmediate(() => reject(new TimeoutError(`no answer within ${ms} ms`))), ms).unref();
    });
  });
  return Promise.race([promise, timeout]).finally(() => {
    settled = true;
    clearTimeout(timer);
  });
}
