import Bull from 'bull';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bullOptions } from '../../src/queues/bull-options.js';
import { checkQueueConnections } from '../../src/queues/queue-connections-check.js';
import { replicatedRedis } from '../support/redis-failover.js';
import { silencingRelay } from '../support/tcp-stand-ins.js';
import { requiredEnv } from '../support/test-env.js';

const quiet = { warn: () => undefined };

describe('checkQueueConnections against the real Redis', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  /**
   * A worker reaching Redis through a silencing relay, its connections checked every 300 ms, and a producer on Redis
   * itself; `done` lists the steps of the jobs the worker ran. A wait for the next job of one second, not Bull's five,
   * so the check gives up on a silent one sooner. Where the same Redis still answers the old connections, the wait in
   * progress there takes the next job and its answer is lost: Bull's stalled-job check finds that job, every second
   * here rather than every 30.
   */
  async function checkedWorkerThroughRelay() {
    const relay = await silencingRelay(requiredEnv('REDIS_URL'));
    cleanups.push(() => relay.close());
    const prefix = `vesta-test-silenced-${randomUUID()}`;
    const settings = { drainDelay: 1, stalledInterval: 1_000 };
    const worker = new Bull('jobs', relay.url, { prefix, settings });
    const producer = new Bull('jobs', requiredEnv('REDIS_URL'), { prefix });
    cleanups.push(
      () => producer.close(),
      () => producer.obliterate({ force: true }),
      () => worker.close(true),
    );
    worker.on('error', () => undefined); // Bull's retry of the wait on the connection cut by the check
    const done: string[] = [];
    void worker.process((job: Bull.Job<{ step: string }>) => Promise.resolve(void done.push(job.data.step)));
    const stop = checkQueueConnections([worker], { timeoutMs: 300, everyMs: 300 }, quiet);
    cleanups.push(() => Promise.resolve(stop()));
    return { relay, worker, producer, done };
  }

  it('leaves a worker waiting for jobs on connections that answer, though a ping there waits behind the wait', async () => {
    const prefix = `vesta-test-waiting-${randomUUID()}`;
    const worker = new Bull('jobs', requiredEnv('REDIS_URL'), { prefix, settings: { drainDelay: 1 } });
    cleanups.push(() => worker.close(true));
    void worker.process(() => Promise.resolve());
    const warn = vi.fn();
    const stop = checkQueueConnections([worker], { timeoutMs: 300, everyMs: 300 }, { warn });
    cleanups.push(() => Promise.resolve(stop()));

    // Three of its one-second waits, each answered only at its end, pinged all along.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(warn).not.toHaveBeenCalled();
  });

  /** Until 2026-12-05 such a worker took no job until TCP gave up on its connections, about 15 minutes later. */
  it('has a worker take jobs again, and enqueue, once its connections went silent while Redis answers new ones', async () => {
    const { relay, worker, producer, done } = await checkedWorkerThroughRelay();
    await producer.add({ step: 'before' });
    await vi.waitFor(() => expect(done).toEqual(['before']), { timeout: 10_000, interval: 100 });
    relay.silenceExisting();
    await producer.add({ step: 'after' });
    await vi.waitFor(() => expect(done).toEqual(['before', 'after']), { timeout: 20_000, interval: 100 });
    await worker.add({ step: 'enqueued by the worker' });
    await vi.waitFor(() => expect(done).toHaveLength(3), { timeout: 10_000, interval: 100 });
  });

  /**
   * Until 2026-12-06 a connection replaced while Redis answered nothing waited for ever for the answer to its handshake
   * (ioredis' connect timeout ends when TCP connects, and only a connection that looks ready was pinged): once Redis was
   * answering new connections again, the worker still took no job and every enqueue waited, until TCP keep-alive gave
   * up on the connection hours later.
   */
  it('has a worker take jobs again, and enqueue, after Redis answered nothing on any connection for a while', async () => {
    const { relay, worker, producer, done } = await checkedWorkerThroughRelay();
    await producer.add({ step: 'before' });
    await vi.waitFor(() => expect(done).toEqual(['before']), { timeout: 10_000, interval: 100 });
    relay.blackHole();
    // Long enough for the check to give up on the connections and for their replacements to land in the black hole.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    relay.restore();
    await producer.add({ step: 'after' });
    await vi.waitFor(() => expect(done).toEqual(['before', 'after']), { timeout: 15_000, interval: 100 });
    await worker.add({ step: 'enqueued by the worker' });
    await vi.waitFor(() => expect(done).toHaveLength(3), { timeout: 10_000, interval: 100 });
  });

  /** Until 2026-12-06 every enqueue, and every wait of the worker, was refused by the demoted node (READONLY). */
  it('has a worker take jobs, and a producer enqueue, after a failover left their connections on the old primary', async () => {
    const redis = await replicatedRedis();
    cleanups.push(() => redis.stop());
    // The app's options (QueuesModule), with a wait for the next job of one second rather than five.
    const options = bullOptions({ url: redis.url, keyPrefix: `vesta-test-failover-${randomUUID()}:` });
    const worker = new Bull('jobs', redis.url, { ...options, settings: { drainDelay: 1 } });
    const producer = new Bull('jobs', redis.url, options);
    cleanups.push(
      () => producer.close(),
      () => worker.close(true),
    );
    worker.on('error', () => undefined); // the refused wait, before its connection is replaced
    const done: string[] = [];
    void worker.process((job: Bull.Job<{ step: string }>) => Promise.resolve(void done.push(job.data.step)));
    await producer.add({ step: 'before' });
    await vi.waitFor(() => expect(done).toEqual(['before']), { timeout: 10_000, interval: 100 });

    await redis.failOver();
    await producer.add({ step: 'after' });
    // Bull waits its retryProcessDelay (5 s) after the wait that the failover ended with an error.
    await vi.waitFor(() => expect(done).toEqual(['before', 'after']), { timeout: 20_000, interval: 100 });
  });
});
