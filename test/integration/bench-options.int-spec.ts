import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { countFromEnv } from '../../bench/env.js';

/** `npm run bench` and `bench:media` as a developer types them; each takes minutes once it has started. */
const npm = (args: string[], env: Record<string, string> = {}) =>
  // The limit only keeps a benchmark that did start (the failure this file guards against) from running on.
  spawnSync('npm', ['run', '--silent', ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });

describe('npm run bench options', () => {
  it('answers --help with the variables, without building or starting anything', () => {
    const help = npm(['bench', '--', '--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run bench/);
    expect(help.stdout).toContain('BENCH_ROUNDS');
    expect(help.stdout).toContain('BENCH_MEDIA_CLIENTS');
  });

  it('refuses an option or a variable it cannot use with exit code 2 and a line naming it', () => {
    const option = npm(['bench:media', '--', '--clients', '5']);
    expect(option.status).toBe(2);
    expect(option.stderr).toMatch(/^Unknown option '--clients'/);
    const rounds = npm(['bench'], { BENCH_ROUNDS: '0' });
    expect(rounds.status).toBe(2);
    expect(rounds.stderr.trim()).toBe('BENCH_ROUNDS must be a whole number of at least 1 (got "0")');
    const size = npm(['bench:media'], { BENCH_MEDIA_FILE_MB: '200' });
    expect(size.status).toBe(2);
    expect(size.stderr.trim()).toBe('BENCH_MEDIA_FILE_MB must be a whole number from 1 to 99 (got "200")');
  });
});

describe('the benchmarks reading their variables', () => {
  it('take an empty variable as unset, as scripts/bench.sh lets it through', () => {
    // Number('') is 0: BENCH_DURATION_S= measured runs of about 1 s reported as "0 s per run".
    expect(countFromEnv('BENCH_DURATION_S', 10, { BENCH_DURATION_S: '' })).toBe(10);
    expect(countFromEnv('BENCH_ROUNDS', 3, {})).toBe(3);
    expect(countFromEnv('BENCH_ROUNDS', 3, { BENCH_ROUNDS: '5' })).toBe(5);
  });

  it('refuse what is not a whole number of at least 1 when started without scripts/bench.sh', () => {
    for (const text of ['0', 'abc', '2.5', ' '])
      expect(() => countFromEnv('BENCH_ROUNDS', 3, { BENCH_ROUNDS: text })).toThrow(
        `BENCH_ROUNDS must be a whole number of at least 1 (got "${text}")`,
      );
  });
});
