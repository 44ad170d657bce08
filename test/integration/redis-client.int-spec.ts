import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import type { Socket } from 'node:net';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../../src/redis/redis-client.factory.js';
import { freePort } from '../support/ports.js';
import { silencingRelay, silentServer } from '../support/tcp-stand-ins.js';
import { requiredEnv } from '../support/test-env.js';

const silentLogger = { log: () => undefined, warn: () => undefined } as never;

describe('Redis client timeouts', () => {
  let client: Redis | undefined;

  afterEach(async () => {
    if (client) await closeRedisClient(client);
    client = undefined;
  });

  it('round-trips commands against the real Redis', async () => {
    client = createRedisClient(
      { url: requiredEnv('REDIS_URL'), connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 },
      silentLogger,
    );
    expect(await waitUntilReady(client, 2_000)).toBe(true);
    const key = `vesta:test:${process.pid}:${Date.now()}`;
    await client.set(key, 'value', 'EX', 10);
    expect(await client.get(key)).toBe('value');
    await client.del(key);
  });

  it('sends the commands issued in one event-loop turn in one socket write (auto-pipelining)', async () => {
    client = createRedisClient(
      { url: requiredEnv('REDIS_URL'), connectTimeoutMs: 2_000, commandTimeoutMs: 1_000 },
      silentLogger,
    );
    expect(await waitUntilReady(client, 2_000)).toBe(true);
    // Every rate-limit check is one command; a write() per command cost ~15 % of a cached read's CPU.
    const socket = (client as unknown as { stream: Socket }).stream;
    const write = socket.write.bind(socket);
    let writes = 0;
    socket.write = ((...args: Parameters<Socket['write']>) => {
      writes += 1;
      return write(...args);
    }) as Socket['write'];
    const key = `vesta:test:pipelined:${process.pid}:${Date.now()}`;
    const counts = await Promise.all(Array.from({ length: 50 }, () => client!.incr(key)));
    await client.del(key);
    expect(counts.toSorted((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // The 50 INCRs in one write, then the DEL in another.
    expect(writes).toBe(2);
  });

  describe('against a Redis that accepts connections but never answers', () => {
    let silent: Awaited<ReturnType<typeof silentServer>>;

    beforeAll(async () => {
      silent = await silentServer();
    });

    afterAll(() => silent.close());

    it('fails a command within its timeout instead of hanging', async () => {
      client = createRedisClient(
        { url: `redis://127.0.0.1:${silent.port}`, connectTimeoutMs: 300, commandTimeoutMs: 300 },
        silentLogger,
      );
      const started = performance.now();
      await expect(client.get('anything')).rejects.toThrow();
      expect(performance.now() - started).toBeLessThan(5_000);
    });
  });

  /** Until 2026-12-05 such a connection was kept until TCP gave up on it, about 15 minutes later. */
  it('replaces a connection that goes silent while Redis answers new ones, and does not run there what timed out', async () => {
    const relay = await silencingRelay(requiredEnv('REDIS_URL'));
    try {
      const options = { url: relay.url, connectTimeoutMs: 1_000, commandTimeoutMs: 300, silenceCheckMs: 500 };
      client = createRedisClient(options, silentLogger);
      expect(await waitUntilReady(client, 2_000)).toBe(true);
      const key = `vesta:test:silenced:${process.pid}:${Date.now()}`;
      relay.silenceExisting();
      await expect(client.set(key, 'late', 'PX', 60_000, 'NX')).rejects.toThrow(/timed out/);
      // Two pings missed 500 ms apart, then a new connection.
      await vi.waitFor(() => expect(client!.ping()).resolves.toBe('PONG'), { timeout: 10_000, interval: 200 });
      // The SET that timed out on the old connection was not sent again on the new one.
      expect(await client.get(key)).toBeNull();
    } finally {
      await relay.close();
    }
  });

  it('fails a command at once while Redis is unreachable (no offline queue)', async () => {
    const port = await freePort();
    client = createRedisClient(
      { url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300, commandTimeoutMs: 300 },
      silentLogger,
    );
    const started = performance.now();
    await expect(client.get('anything')).rejects.toThrow(/enableOfflineQueue|Connection|closed/i);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
