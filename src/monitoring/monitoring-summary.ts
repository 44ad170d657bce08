import type { AppConfig } from '../config/app-config.js';
import type { ProcessStats } from './process-stats.js';
import type { RequestStats } from './request-stats.js';

export type ThresholdState = 'ok' | 'warn' | 'critical';

export interface MonitoringSummary {
  at: string;
  uptimeS: number;
  memory: { heapUsedMb: number; heapTotalMb: number; rssMb: number; state: ThresholdState; restartAtMb: number };
  cpu: { percent: number; state: ThresholdState };
  eventLoopDelayMs: { mean: number; p99: number };
  requests: { total: number; errors: number; inFlight: number; activeConnections: number };
  recent: { windowS: number; requests: number; errors: number; errorRatePercent: number; state: ThresholdState };
  thresholds: AppConfig['monitoring'];
}

const MB = 1024 * 1024;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

function stateOf(value: number, warn: number, critical = Infinity): ThresholdState {
  if (value >= critical) return 'critical';
  return value >= warn ? 'warn' : 'ok';
}

/** The report's "metrics action": the numbers an operator checks first, each against its threshold. */
export function buildSummary(
  config: AppConfig['monitoring'],
  requests: RequestStats,
  process_: ProcessStats,
  memory: NodeJS.MemoryUsage,
  uptimeS: number,
): MonitoringSummary {
  // Each state is judged on the figure the summary shows, so that a figure at a threshold shows its state: judged on
  // the unrounded value, 799.96 MB showed as 800 with memory ok; and the rate as a percentage of the counts, since
  // errorRate * 100 lands below whole percentages (29 errors in 100 replies read 28.999…, ok against a warn of 29).
  const heapUsedMb = round(memory.heapUsed / MB);
  const cpuPercent = round(process_.cpuPercent);
  const recent = requests.recent();
  const errorRatePercent = round(recent.requests === 0 ? 0 : (recent.errors * 100) / recent.requests, 2);
  return {
    at: new Date().toISOString(),
    uptimeS: Math.round(uptimeS),
    memory: {
      heapUsedMb,
      heapTotalMb: round(memory.heapTotal / MB),
      rssMb: round(memory.rss / MB),
      state: stateOf(heapUsedMb, config.memoryMb.warn, config.memoryMb.critical),
      restartAtMb: config.memoryMb.restart,
    },
    cpu: {
      percent: cpuPercent,
      state: stateOf(cpuPercent, config.cpuPercent.warn, config.cpuPercent.critical),
    },
    eventLoopDelayMs: { mean: round(process_.eventLoopDelayMs.mean, 2), p99: round(process_.eventLoopDelayMs.p99, 2) },
    requests: {
      total: requests.requests,
      errors: requests.errors,
      inFlight: requests.inFlight,
      activeConnections: requests.connections,
    },
    recent: {
      windowS: recent.windowS,
      requests: recent.requests,
      errors: recent.errors,
      errorRatePercent,
      state: stateOf(errorRatePercent, config.errorRatePercent.warn),
    },
    thresholds: config,
  };
}
