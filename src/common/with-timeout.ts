/**
 * Rejects with "no answer within <ms> ms" if `promise` has not settled by then; the timer never keeps the process
 * alive. The deadline is enforced only after the event loop's next I/O phase: when this process was too busy to
 * run its loop (a burst of requests), an answer that has already arrived is read first instead of being reported
 * as a timeout. Timers run before I/O in each turn of the loop, so without this a 50 ms Redis timeout would fire
 * whenever our own loop lagged by 50 ms, however fast Redis had answered.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => setImmediate(() => reject(new Error(`no answer within ${ms} ms`))), ms).unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
