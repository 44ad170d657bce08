import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * `./scripts/dev.sh` on a fresh clone with MONGODB_URI and REDIS_URL set (the contract: it uses them instead of
 * starting its own servers). npm is replaced by a stub that records its calls, so nothing is installed, seeded or
 * started for real: what is checked is the script's own flow.
 */
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
    ].join('\n');
    writeFileSync(join(workdir, 'bin/npm'), `${stub}\n`);
    chmodSync(join(workdir, 'bin/npm'), 0o755);
  });

  afterEach(() => rmSync(workdir, { recursive: true, force: true }));

  it('seeds once, leaves the marker and starts the API, also without a .data folder', () => {
    const clone = join(workdir, 'clone');
    const calls = join(workdir, 'npm-calls.txt');
    const run = () =>
      spawnSync('bash', ['scripts/dev.sh'], {
        cwd: clone,
        encoding: 'utf8',
        env: {
          ...process.env,
          PATH: `${join(workdir, 'bin')}:${process.env.PATH ?? ''}`,
          NPM_CALLS: calls,
          MONGODB_URI: 'mongodb://127.0.0.1:1/vesta',
          REDIS_URL: 'redis://127.0.0.1:1',
        },
      });

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
});
