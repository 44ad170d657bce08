import type { DiscoveryService } from '@nestjs/core';
import Bull, { type Job, type Queue } from 'bull';
import { randomUUID } from 'node:crypto';
import { type MetricValueWithName, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { QueueMetrics } from '../../src/monitoring/queue-metrics.js';
import { processJobs } from '../../src/queues/recurring-job.js';
import { requiredEnv } from '../support/test-env.js';

const quiet = { warn: () => undefined, error: () => undefined };

/** The job counts of `queue_job_duration_seconds` by status, as Prometheus would scrape them. */
async function jobCounts(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('queue_job_duration_seconds')!.get();
  return Object.fromEntries(
    (metric.values as MetricValueWithName<string>[])
      .filter(({ metricName }) => metricName === 'queue_job_duration_seconds_count')
      .map(({ labels, value }) => [String(labels.status), value]),
  );
}

/** Durations of the jobs a worker runs on a real Bull queue, with retries as the media and backup jobs have them. */
describe('queue_job_duration_seconds on a real queue', () => {
  const queues: Queue[] = [];

  afterEach(async () => {
    for (const queue of queues.splice(0)) {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });

  /** A worker on a real queue, with QueueMetrics, whose handler fails its first `failing` tries of three. */
  function failingWorker(failing: number) {
    const queue = new Bull('media', requiredEnv('REDIS_URL'), { prefix: `vesta-test-queue-metrics-${randomUUID()}` });
    queues.push(queue);
    const registry = new Registry();
    const discovery = { getProviders: () => [{ instance: queue }] } as unknown as DiscoveryService;
    new QueueMetrics(discovery, registry).onApplicationBootstrap();
    let tries = 0;
    const handler = () =>
      ++tries <= failing ? Promise.reject(new Error('database not answering')) : Promise.resolve();
    processJobs(queue, 'variants', handler, quiet);
    const run = async (outcome: 'completed' | 'failed') => {
      // A try that Bull runs again is `failed` too, without finishedOn; the job ends at its last try.
      const ended = new Promise<void>((resolve) =>
        queue.on(outcome, (job: Job) => {
          if (job.finishedOn) resolve();
        }),
      );
      await queue.add('variants', {}, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });
      await ended;
      return { tries, counts: await jobCounts(registry) };
    };
    return { run };
  }

  it('counts a failed try that Bull runs again as retried, not failed', async () => {
    const { run } = failingWorker(2);
    expect(await run('completed')).toEqual({ tries: 3, counts: { completed: 1, failed: 0, retried: 2 } });
  });

  it('counts a job whose every try failed once as failed, its earlier tries as retried', async () => {
    const { run } = failingWorker(3);
    expect(await run('failed')).toEqual({ tries: 3, counts: { completed: 0, failed: 1, retried: 2 } });
  });
});
