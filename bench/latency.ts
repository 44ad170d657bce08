import autocannon from 'autocannon';
import { percentile } from '../scripts/load-test/measure.js';

/** An autocannon run's result, with the p50 and p99 of its answers' latencies in ms to the microsecond. */
export interface Measured {
  result: autocannon.Result;
  p50: number;
  p99: number;
}

/**
 * One autocannon run that keeps each answer's latency as measured. autocannon's own histogram stores whole
 * milliseconds, cut off (2.9 ms counts as 2), so its p99 of a baseline answering in 2 to 3 ms was up to a third too
 * low, and "(b) p99 <= 2 x (a) p99" compared two such figures.
 */
export function runMeasured(options: autocannon.Options): Promise<Measured> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (error: Error | null, result: autocannon.Result) => {
      if (error) return reject(error);
      const sorted = latencies.sort((x, y) => x - y);
      resolve({ result, p50: percentile(sorted, 50), p99: percentile(sorted, 99) });
    });
    // Every answer, whatever its status, as autocannon's own latency figures count them.
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => latencies.push(responseTimeMs));
  });
}
