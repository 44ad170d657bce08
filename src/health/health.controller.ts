import { Controller, Get, HttpCode, ServiceUnavailableException, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, MemoryHealthIndicator, type HealthCheckResult } from '@nestjs/terminus';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { ReadinessState } from '../lifecycle/readiness-state.js';
import { TokenIgnored } from '../auth/decorators/token-ignored.decorator.js';
import { DatabasePing } from './database-ping.js';
import { HealthStatusDto, ReadinessDto } from './dto/health-status.dto.js';
import { ReadinessProblemDto } from './dto/readiness-problem.dto.js';
import { NotRateLimited } from '../throttling/not-rate-limited.decorator.js';
import { CacheControl } from '../cache/http-cache.js';

@ApiTags('health')
// Not @Public(), which checks a header that is sent: a monitor adding credentials of its own would get a 401 from
// liveness (a restart loop), and a token would make the probe read sessions from the database.
@TokenIgnored()
// Probes are never rate limited: a throttled probe would take a healthy pod out of service.
@NotRateLimited()
@Controller({ path: 'health', version: VERSION_NEUTRAL })
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: DatabasePing,
    private readonly memory: MemoryHealthIndicator,
    private readonly readiness: ReadinessState,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Get('live')
  @HttpCode(200)
  // A probe's answer is about this moment: a 200 without Cache-Control may be kept by a shared cache on the way (a CDN
  // or proxy applying its default TTL to 200s), and an outside monitor would read it as green while the 503s, which
  // carry no-store, were never stored.
  @CacheControl('no-store')
  @ApiOperation({ summary: 'Liveness: the process answers. Checks no dependency and stays 200 while shutting down.' })
  @ApiOkResponse({ type: HealthStatusDto })
  live(): HealthStatusDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @CacheControl('no-store')
  @ApiOperation({
    summary:
      'Readiness: MongoDB answers a one-document read in time, the heap is below MONITOR_MEMORY_RESTART_MB and the instance is not shutting down.',
  })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiServiceUnavailableResponse({ type: ReadinessProblemDto, description: 'Not ready: names the failing checks' })
  async ready(): Promise<ReadinessDto> {
    if (this.readiness.isShuttingDown) {
      throw new ServiceUnavailableException({ detail: 'Not ready: shutting down', failing: ['shutdown'] });
    }
    const timeout = this.config.health.checkTimeoutMs;
    try {
      const result = await this.health.check([
        () => this.database.check('mongodb', timeout),
        // Above the "restart" threshold the pod leaves the Service's endpoints until its heap falls back. Nothing
        // restarts it for that: Kubernetes restarts only on liveness, which checks no heap (VestaPodsNotReady tells).
        () => this.memory.checkHeap('memory_heap', this.config.monitoring.memoryMb.restart * 1024 * 1024),
      ]);
      return { status: 'ok', checks: result.details };
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const result = error.getResponse() as HealthCheckResult;
      const failing = Object.keys(result.error ?? {});
      throw new ServiceUnavailableException({
        detail: `Not ready: ${failing.join(', ')} failing`,
        failing,
        checks: result.details,
      });
    }
  }
}
