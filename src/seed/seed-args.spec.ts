import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/app-config.js';
import { parseSeedArgs } from './seed-args.js';

describe('parseSeedArgs', () => {
  it('reads the options, with the documented defaults', () => {
    expect(parseSeedArgs([])).toEqual({ kind: 'seed', profiles: 10_000, seed: 42 });
    expect(parseSeedArgs(['--profiles', '300', '--seed', '7'])).toEqual({ kind: 'seed', profiles: 300, seed: 7 });
    expect(parseSeedArgs(['--seed', '0', '--profiles', '5000000'])).toEqual({
      kind: 'seed',
      profiles: 5_000_000,
      seed: 0,
    });
    expect(parseSeedArgs(['--help'])).toEqual({ kind: 'help' });
  });

  it.each([
    // Each of these seeded with another number than the one typed (x → 0, 1.5 → 1, 2^32 + 42 → 42).
    [['--seed', 'x'], /--seed must be an integer between 0 and 4294967295 \(got "x"\)/],
    [['--seed', '1.5'], /--seed must be an integer/],
    [['--seed', '4294967338'], /--seed must be an integer/],
    [['--seed=-1'], /--seed must be an integer/],
    [['--profiles', '0'], /--profiles must be an integer between 1 and 5000000 \(got "0"\)/],
    [['--profiles', '5000001'], /--profiles must be an integer/],
    [['--profiles', '1e3'], /--profiles must be an integer/],
    [['--bogus'], /Unknown option '--bogus'[\s\S]*Usage: npm run seed/],
    [['--profiles'], /--profiles[\s\S]*Usage: npm run seed/],
  ])('refuses %j with one clear message', (args, message) => {
    expect(() => parseSeedArgs(args)).toThrow(ConfigError);
    expect(() => parseSeedArgs(args)).toThrow(message);
  });
});
