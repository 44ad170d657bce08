import { describe, expect, it } from 'vitest';
import { eventLoopDelayMs } from './process-stats.js';

/** A histogram as monitorEventLoopDelay({ resolution: 20 }) fills it, in ns. */
const histogram = (meanMs: number, p99Ms: number) => ({
  mean: meanMs * 1e6,
  percentile: (p: number) => (p === 99 ? p99Ms * 1e6 : Number.NaN),
});

describe('the event-loop delay the summary reports', () => {
  it('leaves out the 20 ms sampling interval, so an idle process reads about 0', () => {
    const delay = eventLoopDelayMs(histogram(20.17, 20.38));
    expect(delay.mean).toBeCloseTo(0.17, 6);
    expect(delay.p99).toBeCloseTo(0.38, 6);
  });

  it('reports a stall as the time past the interval', () => {
    expect(eventLoopDelayMs(histogram(70, 520))).toEqual({ mean: 50, p99: 500 });
  });

  it('never goes below 0, and reads 0 before the first sample', () => {
    expect(eventLoopDelayMs(histogram(19.9, 19.95))).toEqual({ mean: 0, p99: 0 });
    expect(eventLoopDelayMs({ mean: Number.NaN, percentile: () => 0 })).toEqual({ mean: 0, p99: 0 });
  });
});
