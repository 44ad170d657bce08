import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { Gauge, type Registry } from 'prom-client';
import { METRICS_REGISTRY } from '../metrics/metrics.constants.js';

/** Counted at most this often, however often Prometheus scrapes (each instance is scraped). */
const REFRESH_MS = 30_000;

/**
 * Business gauges, cheap to keep: the profile count comes from the collection's metadata
 * (estimatedDocumentCount, no scan) and is refreshed at most every 30 s; a failed count keeps the
 * last value. Active subscriptions by plan join here with the subscriptions module.
 */
@Injectable()
export class BusinessMetrics implements OnApplicationBootstrap {
  private profiles = 0;
  private countedAt = 0;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  onApplicationBootstrap(): void {
    const refresh = () => this.refresh();
    const read = () => this.profiles;
    new Gauge({
      name: 'vesta_profiles',
      help: 'Profiles stored (estimated from collection metadata, refreshed at most every 30 s)',
      registers: [this.registry],
      async collect() {
        await refresh();
        this.set(read());
      },
    });
  }

  private async refresh(): Promise<void> {
    if (Date.now() - this.countedAt < REFRESH_MS) return;
    this.countedAt = Date.now();
    this.profiles = await this.connection
      .collection('profiles')
      .estimatedDocumentCount({ maxTimeMS: 500 })
      .catch(() => this.profiles);
  }
}
