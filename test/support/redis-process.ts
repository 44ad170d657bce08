import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeRestartablePort, waitForPort } from './ports.js';
import { freezeProcess } from './process-freeze.js';

/** A redis-server owned by one test, to stop, freeze and restart (a real outage, not a mock). */
export class RedisProcess {
  private child?: ChildProcess;
  /**
   * Its working directory while it runs: a replica writes the primary's snapshot there (dump.rdb), not in the checkout.
   * A new one each start, removed by stop(): a restart begins empty, as it did without one.
   */
  private dir?: string;

  private constructor(readonly port: number) {}

  static async start(): Promise<RedisProcess> {
    const redis = new RedisProcess(await freeRestartablePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'vesta-redis-'));
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir],
      {
        stdio: 'ignore',
      },
    );
    await waitForPort(this.port, 10_000, 'redis-server');
  }

  /** Redis keeps every connection open and answers nothing, not even a QUIT, until thawed or stopped. */
  async freeze(): Promise<void> {
    await freezeProcess(this.child, 'redis-server');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
