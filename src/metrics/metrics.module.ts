import { Module } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { registerLogMetrics } from '../logging/log-metrics.js';
import { METRICS_REGISTRY } from './metrics.constants.js';
import { MetricsServer } from './metrics-server.js';

@Module({
  providers: [
    {
      provide: METRICS_REGISTRY,
      // One registry per application instance (not prom-client's global one), so tests that
      // boot several apps in one process do not collide on metric names.
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        registerLogMetrics(registry);
        return registry;
      },
    },
    MetricsServer,
  ],
  exports: [METRICS_REGISTRY, MetricsServer],
})
export class MetricsModule {}
