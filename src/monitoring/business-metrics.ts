import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from '../common/with-timeout.js';
import { METRICS_REGISTRY, SCRAPE_READ_TIMEOUT_MS } from '../metrics/metrics.constants.js';
import { PLAN_IDS } from '../subscriptions/plans.js';

/** Counted at most this often, however often Prometheus scrapes (each instance is scraped). */
const REFRESH_MS = 30_000;

/**
 * Business gauges, cheap to keep: the profile count comes from the collection's metadata
 * (estimatedDocumentCount, no scan) and is refreshed at most every 30 s; so are active subscriptions by plan, from one
 * aggregate. When a count fails, its gauge is left out of the scrapes until the next refresh, as queue_jobs is: last
 * values repeated while MongoDB does not answer would look true on the dashboards. The unlabelled profile gauge is left
 * out with remove({}), as BackupMetrics does: its reset() would report 0. (Until 2026-12-04 it kept its last estimate.)
 */
@Injectable()
export class BusinessMetrics implements OnApplicationBootstrap {
  /** Undefined while the last estimate failed. */
  private profiles?: number;
  private activeByPlan?: Map<string, number>;
  private countedAt = 0;
  private refreshing?: Promise<void>;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  onApplicationBootstrap(): void {
    const refresh = () => this.refresh();
    const profiles = () => this.profiles;
    const activeByPlan = () => this.activeByPlan;
    new Gauge({
      name: 'vesta_profiles',
      help: 'Profiles stored (estimated from collection metadata, refreshed at most every 30 s)',
      registers: [this.registry],
      async collect() {
        await refresh();
        const count = profiles();
        if (count === undefined) this.remove({});
        else this.set(count);
      },
    });
    new Gauge({
      name: 'vesta_active_subscriptions',
      help: 'Active subscriptions by plan (refreshed at most every 30 s)',
      labelNames: ['plan'],
      registers: [this.registry],
      async collect() {
        await refresh();
        const counts = activeByPlan();
        if (counts === undefined) this.reset();
        else for (const plan of PLAN_IDS) if (plan !== 'free') this.set({ plan }, counts.get(plan) ?? 0);
      },
    });
  }

  /** Both gauges are collected in parallel: they share one refresh. */
  private refresh(): Promise<void> {
    if (Date.now() - this.countedAt < REFRESH_MS && this.refreshing) return this.refreshing;
    this.countedAt = Date.now();
    this.refreshing = this.count();
    return this.refreshing;
  }

  private async count(): Promise<void> {
    this.profiles = await withTimeout(
      this.connection.collection('profiles').estimatedDocumentCount({ maxTimeMS: 500 }),
      SCRAPE_READ_TIMEOUT_MS,
    ).catch(() => undefined);
    // One small aggregate over the status index ($match + $group/$sum work on MongoDB and FerretDB).
    const groups = await withTimeout(
      this.connection
        .collection('subscriptions')
        .aggregate<{ _id: string; count: number }>(
          [{ $match: { status: 'active' } }, { $group: { _id: '$plan', count: { $sum: 1 } } }],
          { maxTimeMS: 500 },
        )
        .toArray(),
      SCRAPE_READ_TIMEOUT_MS,
    ).catch(() => undefined);
    this.activeByPlan = groups && new Map(groups.map((group) => [group._id, group.count]));
  }
}
