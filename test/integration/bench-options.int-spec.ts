import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

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
