import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../config/app-config.js';
import { buildSummary } from './monitoring-summary.js';
import type { ProcessStats } from './process-stats.js';
import { RequestStats } from './request-stats.js';

const MB = 1024 * 1024;
const thresholds = (errorRateWarn = 5): AppConfig['monitoring'] => ({
  memoryMb: { warn: 800, critical: 900, restart: 1024 },
  cpuPercent: { warn: 70, critical: 85 },
  errorRatePercent: { warn: errorRateWarn },
});
const memory = (heapUsedMb: number) =>
  ({ heapUsed: heapUsedMb * MB, heapTotal: 1000 * MB, rss: 1100 * MB }) as NodeJS.MemoryUsage;
const cpu = (percent: number) => ({ cpuPercent: percent, eventLoopDelayMs: { mean: 0, p99: 0 } }) as ProcessStats;

/** Replies of the last few seconds: `errors` 5xx among `total`. */
function replies(total: number, errors: number): RequestStats {
  const stats = new RequestStats();
  for (let i = 0; i < total; i += 1) stats.record(i < errors ? 503 : 200);
  return stats;
}

describe('the monitoring summary at its thresholds ("a value at or above a threshold takes its state")', () => {
  it('reports warn for a 5xx share exactly at the warn percentage', () => {
    // 29 / 100 * 100 is 28.999999999999996 in floating point.
    for (const [total, errors, warn] of [
      [100, 29, 29],
      [100, 57, 57],
      [50, 29, 58],
      [20, 1, 5],
    ]) {
      const { recent } = buildSummary(thresholds(warn), replies(total, errors), cpu(0), memory(100), 1);
      expect(recent).toMatchObject({ errors, requests: total, errorRatePercent: warn, state: 'warn' });
    }
  });

  it('shows no figure at a threshold with the state below it', () => {
    const summary = buildSummary(thresholds(), replies(0, 0), cpu(69.96), memory(799.96), 1);
    expect(summary.memory).toMatchObject({ heapUsedMb: 800, state: 'warn' });
    expect(summary.cpu).toEqual({ percent: 70, state: 'warn' });
    const below = buildSummary(thresholds(), replies(0, 0), cpu(69.94), memory(799.94), 1);
    expect(below.memory).toMatchObject({ heapUsedMb: 799.9, state: 'ok' });
    expect(below.cpu).toEqual({ percent: 69.9, state: 'ok' });
  });

  it('reads an idle window as 0 % and ok', () => {
    expect(buildSummary(thresholds(), replies(0, 0), cpu(0), memory(100), 1).recent).toMatchObject({
      errorRatePercent: 0,
      state: 'ok',
    });
  });
});
