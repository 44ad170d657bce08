import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from './ports.js';

/** The production entry point (dist/main.js, built by the e2e global setup) as a child process. */
export class AppProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.stdout.push(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.stderr.push(chunk));
    this.exited = once(child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
      at: performance.now(),
    }));
  }

  static spawn(env: Record<string, string>): AppProcess {
    return new AppProcess(
      spawn(process.execPath, ['dist/main.js'], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Log lines printed so far, parsed as JSON where they are JSON. */
  logLines(): Record<string, unknown>[] {
    return this.stdout
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /**
   * Spawns dist/main.js on a free port and waits until it is ready. The port is free when chosen but
   * another process (even this app's own metrics listener on port 0) can take it before the app
   * binds it; then the process exits with EADDRINUSE and the next attempt picks another port.
   */
  static async boot(
    env: (port: number) => Record<string, string>,
    attempts = 3,
  ): Promise<{ app: AppProcess; url: string }> {
    for (let attempt = 1; ; attempt += 1) {
      const port = await freePort();
      const app = AppProcess.spawn(env(port));
      const url = `http://127.0.0.1:${port}`;
      try {
        await app.waitUntilReady(url);
        return { app, url };
      } catch (error) {
        const lostPort = app.stderr.join('').includes('EADDRINUSE');
        app.signal('SIGKILL');
        await app.exited;
        if (!lostPort || attempt >= attempts) throw error;
      }
    }
  }

  async waitUntilReady(url: string, timeoutMs = 30_000): Promise<void> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`app exited before it was ready; stderr: ${this.stderr.join('')}`);
      const status = await fetch(`${url}/health/ready`).then(
        (response) => response.status,
        () => 0,
      );
      if (status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`app at ${url} not ready after ${timeoutMs} ms; stderr: ${this.stderr.join('')}`);
  }
}
