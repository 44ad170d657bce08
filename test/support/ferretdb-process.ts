import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeRestartablePort, waitForPort } from './ports.js';
import { freezeProcess } from './process-freeze.js';
import { requiredEnv } from './test-env.js';

/**
 * A FerretDB server owned by one test, for outage scenarios: stop it, freeze it (SIGSTOP, a server
 * that accepts connections but never answers), and bring it back on the same port and data.
 */
export class FerretDbProcess {
  private child?: ChildProcess;
  private readonly dataDir = mkdtempSync(join(tmpdir(), 'vesta-ferretdb-'));

  private constructor(readonly port: number) {}

  static async start(): Promise<FerretDbProcess> {
    const server = new FerretDbProcess(await freeRestartablePort());
    await server.start();
    return server;
  }

  get uri(): string {
    return `mongodb://127.0.0.1:${this.port}/vesta_outage`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      requiredEnv('FERRETDB_BIN'),
      [`--listen-addr=127.0.0.1:${this.port}`, '--handler=sqlite', `--sqlite-url=file:${this.dataDir}/`],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, 15_000, 'FerretDB');
  }

  async freeze(): Promise<void> {
    await freezeProcess(this.child, 'FerretDB');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
