import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { Job, Queue } from 'bull';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { withTimeout } from '../common/with-timeout.js';
import { METRICS_REGISTRY, SCRAPE_READ_TIMEOUT_MS } from '../metrics/metrics.constants.js';
import { whileConnected } from '../queues/while-connected.js';

const STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
/** The Bull events that end a try of a job. */
const OUTCOMES = ['completed', 'failed'] as const;
/** The `status` label of a try's duration: its outcome, or `retried` for a failed try that Bull will run again. */
const STATUSES = [...OUTCOMES, 'retried'] as const;

const isQueue = (value: unknown): value is Queue =>
  typeof (value as Queue | null)?.getJobCounts === 'function' && typeof (value as Queue).name === 'string';

/**
 * Depth of every Bull queue the app registers (read from Redis when scraped) and the duration of
 * the jobs this instance ran. Queues are found through Nest's DiscoveryService, so a new queue
 * needs no change here.
 */
@Injectable()
export class QueueMetrics implements OnApplicationBootstrap {
  private readonly logger = new Logger(QueueMetrics.name);

  constructor(
    private readonly discovery: DiscoveryService,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  onApplicationBootstrap(): void {
    const queues = this.discovery
      .getProviders()
      .map((wrapper) => wrapper.instance as unknown)
      .filter(isQueue);
    const logger = this.logger;
    new Gauge({
      name: 'queue_jobs',
      help: 'Jobs per Bull queue and state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        await Promise.all(
          queues.map(async (queue) => {
            const read = whileConnected(queue, () => queue.getJobCounts());
            const counts = await withTimeout(read, SCRAPE_READ_TIMEOUT_MS).catch((error: Error) => {
              logger.warn(`Depth of queue ${queue.name} unavailable: ${error.message}`);
              return undefined;
            });
            // Unread, the queue's series are left out of this scrape rather than kept at their last values: the
            // worker HPA and VestaQueueBacklog would act on a depth that is no longer true (drained, or grown).
            for (const state of STATES) {
              if (counts) this.set({ queue: queue.name, state }, counts[state]);
              else this.remove({ queue: queue.name, state });
            }
          }),
        );
      },
    });
    const duration = new Histogram({
      name: 'queue_job_duration_seconds',
      help: 'Run time of the jobs this instance processed, by queue and outcome',
      labelNames: ['queue', 'status'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60],
      registers: [this.registry],
    });
    // Bull sets finishedOn on a job's last try only. A failed try it runs again (media variants, the scheduled backup)
    // has none: it is `retried`, ended now. Until 2026-12-07 such tries were left out, so four failed tries of five
    // showed nothing; they are not `failed`, which VestaJobsFailing counts as runs that the next firing must make good.
    const observe = (queue: Queue, outcome: (typeof OUTCOMES)[number]) => (job: Job | null) => {
      // Null for a job failed by the stalled-job check and removed on failing.
      if (!job?.processedOn) return;
      const status = job.finishedOn ? outcome : 'retried';
      duration.observe({ queue: queue.name, status }, ((job.finishedOn ?? Date.now()) - job.processedOn) / 1000);
    };
    for (const queue of queues) {
      // VestaJobsFailing counts these with increase(), which cannot see a series' first sample: created at 0, or the
      // first failure and the first success of each queue on each pod went unseen (until 2026-12-05), and two failures
      // an hour apart on one worker never fired.
      for (const status of STATUSES) duration.zero({ queue: queue.name, status });
      for (const outcome of OUTCOMES) queue.on(outcome, observe(queue, outcome));
    }
  }
}
