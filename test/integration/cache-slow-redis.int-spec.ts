import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, Instance } from '../support/cache-instance.js';
import { tcpRelay } from '../support/tcp-stand-ins.js';
import { requiredEnv } from '../support/test-env.js';

/**
 * A relay to the test Redis that, while `slow`, hands Redis' answers back `delayMs` late. In order: an answer that
 * comes when the relay is fast again still waits for those held before it, as on a real connection.
 */
async function slowRedis(delayMs: number) {
  const state = { slow: false };
  const relay = await tcpRelay(new URL(requiredEnv('REDIS_URL')), (client, upstream) => {
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    let released = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      const due = performance.now() + (state.slow ? delayMs : 0);
      released = released
        .then(() => new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now()))))
        .then(() => void client.write(chunk));
    });
  });
  return { url: `redis://127.0.0.1:${relay.port}`, state, close: relay.close };
}

/**
 * Redis takes every command at once, but its answers reach the writer 80 ms late for a moment (a busy Redis, a slow
 * network hop): more than the 50 ms L2 timeout, after which the writer skips Redis for a second. The writer's
 * connections go through the relay; the reader's go straight to Redis.
 */
describe('invalidations after Redis answered the writer late', () => {
  let link: Awaited<ReturnType<typeof slowRedis>>;
  let writer: Instance;
  let reader: Instance;
  let value: string;
  const read = (instance: Instance) => instance.cache.wrap('profile', 'p', () => Promise.resolve(value), { ttlS: 300 });

  const setUp = async (delayMs = 80) => {
    link = await slowRedis(delayMs);
    const namespace = `slow-redis-${randomUUID().slice(0, 8)}:`;
    writer = await Instance.create(link.url, namespace);
    reader = await Instance.create(requiredEnv('REDIS_URL'), namespace);
    value = 'before';
    expect(await read(writer)).toBe('before');
    expect(await read(reader)).toBe('before'); // now in the reader's L1
  };

  /** Resolves once the reader has the new value, polled from the write's acknowledgement; throws after 100 ms. */
  const readerHasItWithin100Ms = () => eventually(async () => (await read(reader)) === 'after', 100);

  afterEach(async () => {
    await Promise.all([writer.close(), reader.close()]);
    await link.close();
  });

  it('reach the other instances within 100 ms when the write’s own deletion was answered late', async () => {
    await setUp();
    value = 'after';
    link.state.slow = true;
    await writer.cache.invalidate('profile', ['p']); // the write is acknowledged once this resolves
    link.state.slow = false;
    // Until 2026-12-07 its message was not sent (Redis skipped after the timeout) until the replay, ~1 s later.
    await readerHasItWithin100Ms();
    expect(await writer.metric('cache_l2_errors_total', { operation: 'delete' })).toBe(1);
  });

  it('reach the other instances within 100 ms when a read of another key had just timed out', async () => {
    await setUp();
    link.state.slow = true;
    await writer.cache.wrap('profile', 'other', () => Promise.resolve('loaded'), { ttlS: 300 });
    link.state.slow = false;
    expect(await writer.metric('cache_l2_errors_total', { operation: 'get' })).toBe(1);

    value = 'after';
    await writer.cache.invalidate('profile', ['p']); // within the second the writer skips Redis
    // Until 2026-12-07 neither the deletion nor the message was sent while Redis was skipped: the reader kept the old
    // value in L1 until the writer's replay, ~1 s later.
    await readerHasItWithin100Ms();
  });

  it('reach the other instances within 100 ms while a read of another key waits for its late answer', async () => {
    await setUp(300);
    link.state.slow = true;
    // Its GET is on the wire (ioredis writes an auto-pipeline on the next turn) and answered 300 ms late.
    const reading = writer.cache.wrap('profile', 'other', () => Promise.resolve('loaded'), { ttlS: 300 });
    await new Promise((resolve) => setImmediate(resolve));
    value = 'after';
    await writer.cache.invalidate('profile', ['p']); // its deletion times out too: acknowledged after 50 ms
    // Until 2026-12-07 the deletion and the message waited in the client until the GET's answer came (ioredis writes no
    // auto-pipeline while the one before it is unanswered): the reader kept the old value in L1 for 250 ms more.
    await readerHasItWithin100Ms();
    link.state.slow = false;
    await reading;
  });
});
