import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeRedisClient, createRedisClient } from '../../src/redis/redis-client.factory.js';
import { freeRestartablePort, waitForPort } from '../support/ports.js';

/** A redis-server on `port` in `dir`, with `args`; stopped by the returned function. */
async function redisServer(port: number, dir: string, args: string[]): Promise<() => Promise<void>> {
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args],
    { stdio: 'ignore' },
  );
  await waitForPort(port, 10_000, 'redis-server');
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
}

describe('a Redis client while Redis loads its dataset', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('keeps its connection, which Redis answers (loading), and is ready once the dataset is loaded', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vesta-redis-loading-'));
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const port = await freeRestartablePort();
    // A snapshot of 4000 keys, then a Redis that takes a millisecond for each when it loads it: about 4 s of
    // `-LOADING` answers and `loading:1` in INFO, as after a restart of a Redis with a large dataset.
    const stopWriter = await redisServer(port, dir, ['--enable-debug-command', 'yes']);
    const { Redis: IoRedis } = await import('ioredis');
    const writer = new IoRedis(`redis://127.0.0.1:${port}`);
    await writer.call('DEBUG', 'POPULATE', '4000');
    await writer.save();
    writer.disconnect();
    await stopWriter();
    cleanups.push(
      await redisServer(port, dir, [
        '--dbfilename',
        'dump.rdb',
        '--key-load-delay',
        '1000',
        '--loading-process-events-interval-bytes',
        '1024',
      ]),
    );

    const warn = vi.fn();
    const client: Redis = createRedisClient(
      { url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 1_000, commandTimeoutMs: 500, silenceCheckMs: 200 },
      { log: () => undefined, warn } as never,
    );
    cleanups.push(() => closeRedisClient(client));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(client.status).toBe('connect'); // still in the ready check: INFO says loading:1
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 15_000, interval: 100 });
    expect(await client.dbsize()).toBe(4000);
    expect(warn.mock.calls.map(([line]) => String(line))).not.toContainEqual(
      expect.stringContaining('no answer to the connection handshake'),
    );
  });
});
