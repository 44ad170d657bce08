import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * `./scripts/dev.sh` on a fresh clone with MONGODB_URI and REDIS_URL set (the contract: it uses them instead of
 * starting its own servers). npm is replaced by a stub that records its calls, so nothing is installed, seeded or
 * started for real: what is checked is the script's own flow.
 */
const execFileAsync = promisify(execFile);

describe('scripts/dev.sh with MONGODB_URI and REDIS_URL set', () => {
  let workdir: string;

  beforeEach(() => {
    workdir = mkdtempSync(join(tmpdir(), 'vesta-dev-script-'));
    const clone = join(workdir, 'clone');
    mkdirSync(clone);
    cpSync(join(process.cwd(), 'scripts'), join(clone, 'scripts'), { recursive: true });
    cpSync(join(process.cwd(), 'package-lock.json'), join(clone, 'package-lock.json'));
    mkdirSync(join(workdir, 'bin'));
    const stub = [
      '#!/usr/bin/env bash',
      'echo "$*" >> "$NPM_CALLS"',
      // `npm run` lists the scripts; dev.sh seeds only when `seed` is among them.
      `if [[ "$*" == run ]]; then printf 'Scripts available:\\n  seed\\n    nest build\\n'; fi`,
      'if [[ "$*" == "run --silent start:dev" ]]; then echo "JWT_SECRET=${JWT_SECRET:-}" >> "$NPM_CALLS"; fi',
      'if [[ "$*" == "run --silent start:dev" ]]; then echo "REDIS_KEY_PREFIX=$REDIS_KEY_PREFIX" >> "$NPM_CALLS"; fi',
      // The API, for as long as the test wants: its pid is recorded, and it runs until stopped.
      'if [[ "$*" == "run --silent start:dev" && -n "${API_PID:-}" ]]; then echo $$ > "$API_PID"; exec sleep 300; fi',
    ].join('\n');
    writeFileSync(join(workdir, 'bin/npm'), `${stub}\n`);
    chmodSync(join(workdir, 'bin/npm'), 0o755);
  });

  afterEach(() => rmSync(workdir, { recursive: true, force: true }));

  /** The script's environment here: the npm stub first on PATH, noting its calls, and the services given. */
  const devEnv = (more: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    PATH: `${join(workdir, 'bin')}:${process.env.PATH ?? ''}`,
    NPM_CALLS: join(workdir, 'npm-calls.txt'),
    MONGODB_URI: 'mongodb://127.0.0.1:1/vesta',
    REDIS_URL: 'redis://127.0.0.1:1',
    ...more,
  });

  /** The value of `name` the script gave the API (the stub notes it), in a run with `more` set that succeeds. */
  const givenToApi = (name: string, more: Record<string, string | undefined> = {}): string => {
    const calls = join(workdir, 'npm-calls.txt');
    writeFileSync(calls, '');
    const run = spawnSync('bash', ['scripts/dev.sh'], {
      cwd: join(workdir, 'clone'),
      encoding: 'utf8',
      env: devEnv(more),
    });
    expect(run.status).toBe(0);
    const line = readFileSync(calls, 'utf8')
      .split('\n')
      .find((call) => call.startsWith(`${name}=`));
    return line?.slice(name.length + 1) ?? '';
  };

  it('seeds once, leaves the marker and starts the API, also without a .data folder', () => {
    const clone = join(workdir, 'clone');
    const calls = join(workdir, 'npm-calls.txt');
    const run = () => spawnSync('bash', ['scripts/dev.sh'], { cwd: clone, encoding: 'utf8', env: devEnv() });

    const first = run();
    expect(first.stderr).not.toContain('cannot touch');
    expect(first.status).toBe(0);
    expect(existsSync(join(clone, '.data/seeded'))).toBe(true);
    expect(readFileSync(calls, 'utf8').split('\n')).toEqual(
      expect.arrayContaining(['run --silent seed', 'run --silent start:dev']),
    );

    writeFileSync(calls, '');
    const second = run();
    expect(second.status).toBe(0);
    const again = readFileSync(calls, 'utf8').split('\n');
    expect(again).not.toContain('run --silent seed');
    expect(again).toContain('run --silent start:dev');
  });

  it('stops with a line naming the port when PORT is taken, before starting anything', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const calls = join(workdir, 'npm-calls.txt');
    try {
      const { status, stderr } = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        execFile(
          'bash',
          ['scripts/dev.sh'],
          { cwd: join(workdir, 'clone'), env: devEnv({ PORT: String(port) }) },
          (error, _stdout, stderr) => resolve({ status: error ? Number(error.code) : 0, stderr }),
        );
      });
      expect(status).toBe(1);
      expect(stderr).toContain(`port ${port} is in use`);
      expect(existsSync(calls) ? readFileSync(calls, 'utf8') : '').not.toContain('start:dev');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  // The default key outside production is in the repository, and the API listens on every interface.
  it('starts the API with a signing key of its own, the same on every run, unless JWT_SECRET is set', () => {
    const keyOfRun = (jwtSecret?: string) => givenToApi('JWT_SECRET', { JWT_SECRET: jwtSecret });

    const key = keyOfRun();
    expect(key.length).toBeGreaterThanOrEqual(32);
    expect(key).not.toBe('vesta-development-secret-never-use-in-production');
    expect(keyOfRun()).toBe(key);
    expect(keyOfRun('x'.repeat(40))).toBe('x'.repeat(40));
  });

  // An IDE's stop button or `kill <pid>` signals the script alone, not its process group as Ctrl-C does. Closing the
  // terminal sends SIGHUP to the script's group, which is not the API's: the API then held PORT and METRICS_PORT.
  it.each(['SIGTERM', 'SIGHUP'] as const)('stops the API when the script alone gets %s', async (signal) => {
    const apiPid = join(workdir, 'api.pid');
    const script = spawn('bash', ['scripts/dev.sh'], {
      cwd: join(workdir, 'clone'),
      env: devEnv({ API_PID: apiPid }),
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => script.on('exit', (code) => resolve(code)));
    await expect
      .poll(() => existsSync(apiPid) && readFileSync(apiPid, 'utf8').trim() !== '', { timeout: 10_000 })
      .toBe(true);
    const api = Number(readFileSync(apiPid, 'utf8'));
    const running = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(running(api)).toBe(true);

    try {
      script.kill(signal);
      const stillRunning = new Promise((resolve) => setTimeout(resolve, 10_000, 'still running'));
      expect(await Promise.race([exited, stillRunning])).toBe(130);
      await expect.poll(() => running(api), { timeout: 5_000 }).toBe(false);
    } finally {
      // Left running when the test fails, neither may outlive it.
      for (const pid of [api, script.pid]) if (pid && running(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  // The machine's Redis outlives .data/: with the default prefix, a database started afresh was shown the deleted one's
  // profiles, popular list and city counts from the Redis cache.
  it('gives the API a Redis key prefix of its .data folder, a new one once .data is deleted, unless one is set', () => {
    const prefixOfRun = (prefix?: string) => givenToApi('REDIS_KEY_PREFIX', { REDIS_KEY_PREFIX: prefix });

    const prefix = prefixOfRun();
    expect(prefix).toMatch(/^vesta-dev-[0-9a-f]{8}:$/);
    expect(prefixOfRun()).toBe(prefix);
    rmSync(join(workdir, 'clone', '.data'), { recursive: true, force: true });
    const fresh = prefixOfRun();
    expect(fresh).toMatch(/^vesta-dev-[0-9a-f]{8}:$/);
    expect(fresh).not.toBe(prefix);
    expect(prefixOfRun('team-a:')).toBe('team-a:');
  });
});

/**
 * The Redis the scripts use when none is named: the one answering on the local port, asked without redis-cli, which a
 * Redis run in Docker does not bring (until 2026-12-05 the scripts then installed and started a Redis of their own).
 */
describe('scripts/lib/services.sh ensure_redis', () => {
  /** A server on a free port that answers every line with `reply`, as Redis answers PING. */
  async function answering(reply: string): Promise<{ port: number; close: () => Promise<void> }> {
    const server = createServer((socket) => socket.on('data', () => socket.write(reply)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  /** ensure_redis on `port`, with neither redis-cli nor redis-server on the PATH and apt stubbed: what it chose. */
  async function ensureRedis(port: number): Promise<string> {
    const script = [
      'source scripts/lib/common.sh',
      'source scripts/lib/services.sh',
      'apt_install() { echo "installs $*"; exit 0; }',
      `ensure_redis ${port}`,
      'echo "uses $REDIS_URL"',
    ].join('\n');
    const emptyPath = mkdtempSync(join(tmpdir(), 'vesta-no-redis-cli-'));
    try {
      const { stdout } = await execFileAsync('/bin/bash', ['-c', script], { env: { PATH: emptyPath } });
      return stdout.trim();
    } finally {
      rmSync(emptyPath, { recursive: true, force: true });
    }
  }

  it('uses a Redis that answers PING on the local port, also without redis-cli installed', async () => {
    const redis = await answering('+PONG\r\n');
    try {
      expect(await ensureRedis(redis.port)).toBe(`uses redis://127.0.0.1:${redis.port}`);
    } finally {
      await redis.close();
    }
  });

  it('starts its own when what answers there is not a Redis it can use', async () => {
    const locked = await answering('-NOAUTH Authentication required.\r\n');
    try {
      expect(await ensureRedis(locked.port)).toBe('installs redis-server');
    } finally {
      await locked.close();
    }
  });
});

/**
 * A clone whose node_modules is a symlink to another checkout's (a worktree, a second clone sharing the packages).
 * `npm ci` deletes every entry of node_modules before installing and follows the link, so until 2026-12-06 dev.sh
 * and test.sh on such a clone emptied the other checkout's packages while it was using them.
 */
describe('scripts/lib/common.sh ensure_node_modules', () => {
  it('leaves a node_modules that links to another checkout alone', () => {
    const workdir = mkdtempSync(join(tmpdir(), 'vesta-linked-modules-'));
    try {
      const clone = join(workdir, 'clone');
      const shared = join(workdir, 'other/node_modules');
      mkdirSync(join(shared, 'some-package'), { recursive: true });
      writeFileSync(join(shared, 'some-package/index.js'), '');
      writeFileSync(join(shared, '.package-lock.json'), '{}');
      cpSync(join(process.cwd(), 'scripts'), join(clone, 'scripts'), { recursive: true });
      writeFileSync(join(clone, 'package.json'), '{"name":"clone","version":"1.0.0"}');
      // Newer than the other checkout's installed tree, as a fresh clone's lockfile is.
      writeFileSync(
        join(clone, 'package-lock.json'),
        '{"name":"clone","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"clone"}}}',
      );
      utimesSync(join(shared, '.package-lock.json'), new Date(0), new Date(0));
      symlinkSync(shared, join(clone, 'node_modules'));

      const run = spawnSync('/bin/bash', ['-c', 'source scripts/lib/common.sh && ensure_node_modules'], {
        cwd: clone,
        encoding: 'utf8',
      });

      expect(run.status).toBe(0);
      expect(existsSync(join(shared, 'some-package/index.js'))).toBe(true);
      expect(run.stderr).toContain('not running npm ci through it');
    } finally {
      rmSync(workdir, { recursive: true, force: true });
    }
  });
});
