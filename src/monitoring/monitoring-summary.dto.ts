import { ApiProperty } from '@nestjs/swagger';
import type { MonitoringSummary, ThresholdState } from './monitoring-summary.js';

const STATES: ThresholdState[] = ['ok', 'warn', 'critical'];

class MemoryDto {
  @ApiProperty({ example: 182.4 }) heapUsedMb: number;
  @ApiProperty({ example: 210.1 }) heapTotalMb: number;
  @ApiProperty({ example: 265.9 }) rssMb: number;
  @ApiProperty({ enum: STATES, description: 'Heap in use against MONITOR_MEMORY_WARN_MB / _CRITICAL_MB' })
  state: ThresholdState;
  @ApiProperty({
    type: 'integer',
    example: 1024,
    description: 'Readiness fails above this heap size (MONITOR_MEMORY_RESTART_MB)',
  })
  restartAtMb: number;
}

class CpuDto {
  @ApiProperty({ example: 12.5, description: 'Share of one core used over the last second' }) percent: number;
  @ApiProperty({ enum: STATES }) state: ThresholdState;
}

class EventLoopDelayDto {
  @ApiProperty({ example: 0.4 }) mean: number;
  @ApiProperty({ example: 3.1 }) p99: number;
}

class RequestTotalsDto {
  @ApiProperty({ type: 'integer', example: 120_450, description: 'Since start' }) total: number;
  @ApiProperty({ type: 'integer', example: 3, description: '5xx replies since start' }) errors: number;
  @ApiProperty({ type: 'integer', example: 4 }) inFlight: number;
  @ApiProperty({ type: 'integer', example: 37 }) activeConnections: number;
}

class RecentDto {
  @ApiProperty({ type: 'integer', example: 300 }) windowS: number;
  @ApiProperty({ type: 'integer', example: 9_120 }) requests: number;
  @ApiProperty({ type: 'integer', example: 0 }) errors: number;
  @ApiProperty({ example: 0 }) errorRatePercent: number;
  @ApiProperty({ enum: STATES, description: 'Against MONITOR_ERROR_RATE_WARN_PERCENT' }) state: ThresholdState;
}

export class MonitoringSummaryDto implements MonitoringSummary {
  @ApiProperty({ format: 'date-time', example: '2026-11-23T22:00:00.000Z' }) at: string;
  @ApiProperty({ type: 'integer', example: 3_600 }) uptimeS: number;
  @ApiProperty({ type: MemoryDto }) memory: MemoryDto;
  @ApiProperty({ type: CpuDto }) cpu: CpuDto;
  @ApiProperty({ type: EventLoopDelayDto, description: 'Over the last second; 0 when idle' })
  eventLoopDelayMs: EventLoopDelayDto;
  @ApiProperty({ type: RequestTotalsDto }) requests: RequestTotalsDto;
  @ApiProperty({ type: RecentDto, description: 'The last 5 minutes; errors are 5xx replies' }) recent: RecentDto;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'The thresholds in force' })
  thresholds: MonitoringSummary['thresholds'];
}
