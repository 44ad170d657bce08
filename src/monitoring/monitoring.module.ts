import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { MetricsModule } from '../metrics/metrics.module.js';
import { BusinessMetrics } from './business-metrics.js';
import { MongoMetrics } from './mongo-metrics.js';
import { MonitoringController } from './monitoring.controller.js';
import { ProcessStats } from './process-stats.js';
import { QueueMetrics } from './queue-metrics.js';
import { RequestStats } from './request-stats.js';

/**
 * Prometheus series beyond the defaults (HTTP, queues, MongoDB, business gauges; cache and rate
 * limiting register their own) and the admin summary with the report's thresholds. The HTTP hooks
 * and overload protection are Fastify-level and wired in createApp (see app.factory.ts).
 */
@Module({
  imports: [DiscoveryModule, MetricsModule],
  controllers: [MonitoringController],
  providers: [
    { provide: RequestStats, useFactory: () => new RequestStats() },
    ProcessStats,
    QueueMetrics,
    MongoMetrics,
    BusinessMetrics,
  ],
  exports: [RequestStats],
})
export class MonitoringModule {}
