import { percentile } from '../scripts/load-test/measure.js';

/**
 * The p50 and the max of the downloads' first-byte times, the p50 by nearest rank as the load test takes its
 * percentiles. (Index n / 2 of the sorted times was one rank too high: of 100 downloads the 51st fastest, of 2 the
 * slower one, so the p50 printed the max.)
 */
export function firstBytesMs(headersMs: readonly number[]): { p50: number; max: number } {
  const sorted = [...headersMs].sort((x, y) => x - y);
  return { p50: percentile(sorted, 50), max: sorted.at(-1) ?? 0 };
}
