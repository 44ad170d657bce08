import type { DiscoveryService } from '@nestjs/core';
import { type MetricValueWithName, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { QueueMetrics } from './queue-metrics.js';

/** A Bull queue whose depth reads as `counts`, or fails while `counts` is undefined. */
function fakeQueue(name: string) {
  const queue = {
    name,
    client: { status: 'ready' },
    counts: { waiting: 7, active: 1, delayed: 0, failed: 2 } as Record<string, number> | undefined,
    getJobCounts: () =>
      queue.counts ? Promise.resolve(queue.counts) : Promise.reject(new Error('Connection is closed.')),
    on: () => queue,
  };
  return queue;
}

async function scrapedDepth(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('queue_jobs')!.get();
  return Object.fromEntries(metric.values.map(({ labels, value }) => [`${labels.queue}/${labels.state}`, value]));
}

describe('QueueMetrics', () => {
  it("exports every queue's completed, failed and retried job counts at 0 before any job ends, so increase() sees the first", async () => {
    const registry = new Registry();
    const discovery = { getProviders: () => [{ instance: fakeQueue('media') }, { instance: fakeQueue('backups') }] };
    new QueueMetrics(discovery as unknown as DiscoveryService, registry).onApplicationBootstrap();
    const durations = await registry.getSingleMetric('queue_job_duration_seconds')!.get();
    const counts = (durations.values as MetricValueWithName<string>[])
      .filter(({ metricName }) => metricName === 'queue_job_duration_seconds_count')
      .map(({ labels, value }) => `${labels.queue}/${labels.status}=${value}`);
    expect(counts.sort()).toEqual([
      'backups/completed=0',
      'backups/failed=0',
      'backups/retried=0',
      'media/completed=0',
      'media/failed=0',
      'media/retried=0',
    ]);
  });

  it('leaves a queue out of a scrape that cannot read its depth, instead of repeating the last values', async () => {
    const [media, backups] = [fakeQueue('media'), fakeQueue('backups')];
    const registry = new Registry();
    const discovery = { getProviders: () => [{ instance: media }, { instance: backups }] };
    new QueueMetrics(discovery as unknown as DiscoveryService, registry).onApplicationBootstrap();
    expect(await scrapedDepth(registry)).toMatchObject({ 'media/waiting': 7, 'backups/failed': 2 });

    media.counts = undefined; // Redis stopped answering for this queue's read
    const depth = await scrapedDepth(registry);
    expect(Object.keys(depth).filter((key) => key.startsWith('media/'))).toEqual([]);
    expect(depth).toMatchObject({ 'backups/waiting': 7 });

    media.counts = { waiting: 0, active: 0, delayed: 0, failed: 0 };
    expect(await scrapedDepth(registry)).toMatchObject({ 'media/waiting': 0 });
  });
});
