import type { DiscoveryService } from '@nestjs/core';
import Bull from 'bull';
import { Types } from 'mongoose';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/app-config.js';
import { MediaVariantsJob } from '../../src/media/media-variants.job.js';
import type { MediaStorage } from '../../src/media/media.storage.js';
import { QueueMetrics } from '../../src/monitoring/queue-metrics.js';
import { QueueNotConnectedError } from '../../src/queues/while-connected.js';
import { eventually } from '../support/cache-instance.js';
import { RedisProcess } from '../support/redis-process.js';

/** Commands a Bull queue's connection holds until Redis answers: unsent, and sent but unanswered. */
const held = (queue: Bull.Queue) => {
  const client = queue.client as unknown as { offlineQueue: { length: number }; commandQueue: { length: number } };
  return client.offlineQueue.length + client.commandQueue.length;
};

// Redis is this test's own: it is stopped and started again.
describe('Bull commands from a request while Redis is down', () => {
  let server: RedisProcess;
  let queue: Bull.Queue;

  beforeEach(async () => {
    server = await RedisProcess.start();
    queue = new Bull('media', server.url);
    queue.on('error', () => undefined); // the refused connections, expected here
    await eventually(() => queue.client.status === 'ready', 5_000);
  });

  afterEach(async () => {
    await server.stop();
    await queue.close(true).catch(() => undefined);
  });

  /** Stops Redis once the connection is idle; returns what the connection holds then (none of it from a request). */
  const stopRedis = async () => {
    await eventually(() => held(queue) === 0, 2_000);
    await server.stop();
    await eventually(() => queue.client.status !== 'ready', 2_000);
    return held(queue);
  };

  it('refuses an upload’s job at once instead of holding it until Redis returns, and sends it once it has', async () => {
    const media = queue as Bull.Queue<{ mediaId: string }>;
    const variants = new MediaVariantsJob(media, {} as MediaStorage, { role: 'api' } as AppConfig);
    const before = await stopRedis();
    for (let upload = 0; upload < 50; upload += 1) {
      await expect(variants.enqueue(new Types.ObjectId())).rejects.toBeInstanceOf(QueueNotConnectedError);
    }
    expect(held(queue)).toBe(before);

    await server.start();
    await eventually(() => queue.client.status === 'ready', 5_000);
    const id = new Types.ObjectId();
    await variants.enqueue(id);
    expect(await queue.getJob(`variants:${id.toHexString()}`)).not.toBeNull();
  });

  it('leaves the queue’s depth out of a scrape without holding its reads until Redis returns', async () => {
    const registry = new Registry();
    const discovery = { getProviders: () => [{ instance: queue }] } as unknown as DiscoveryService;
    new QueueMetrics(discovery, registry).onApplicationBootstrap();
    expect(await registry.metrics()).toMatch(/^queue_jobs\{queue="media",state="waiting"\} 0$/m);

    const before = await stopRedis();
    for (let scrape = 0; scrape < 10; scrape += 1) {
      expect(await registry.metrics()).not.toMatch(/^queue_jobs\{/m);
    }
    expect(held(queue)).toBe(before);
  });
});
