import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators/roles.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { buildSummary } from './monitoring-summary.js';
import { MonitoringSummaryDto } from './monitoring-summary.dto.js';
import { ProcessStats } from './process-stats.js';
import { RequestStats } from './request-stats.js';
import { CacheControl } from '../cache/http-cache.js';

@ApiTags('monitoring')
@ApiBearerAuth()
@Controller('admin/monitoring')
export class MonitoringController {
  constructor(
    @Inject(RequestStats) private readonly requests: RequestStats,
    @Inject(ProcessStats) private readonly process_: ProcessStats,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Get('summary')
  @CacheControl('no-store')
  @Roles('admin')
  @ApiOperation({ summary: 'Memory, CPU, requests, error rate and event-loop delay, each against its threshold' })
  @ApiOkResponse({ type: MonitoringSummaryDto })
  @ApiForbiddenResponse({ type: ProblemResponseDto, description: 'Admins only' })
  summary(): MonitoringSummaryDto {
    return buildSummary(this.config.monitoring, this.requests, this.process_, process.memoryUsage(), process.uptime());
  }
}
