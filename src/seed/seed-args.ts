import { parseArgs } from 'node:util';
import { ConfigError } from '../config/app-config.js';

export const SEED_USAGE = `Usage: npm run seed -- [--profiles N] [--seed S]
  --profiles N   demo profiles (and accounts) to insert, 1 to 5000000 (default 10000)
  --seed S       seed of the pseudo-random generator, 0 to 4294967295 (default 42); the same seed gives the same data`;

export type SeedCommand = { kind: 'help' } | { kind: 'seed'; profiles: number; seed: number };

/**
 * The seed script's arguments. A seed that is not a whole number is refused rather than used: the generator takes
 * `seed >>> 0`, so `--seed x` silently seeded with 0 and `--seed 1.5` with 1, and "the same --seed gives the same
 * data" did not hold for what the user typed.
 */
export function parseSeedArgs(args: string[]): SeedCommand {
  let values: { profiles: string; seed: string; help: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        profiles: { type: 'string', default: '10000' },
        seed: { type: 'string', default: '42' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    // parseArgs' TypeError (an unknown option, a missing value) would otherwise end the script with a stack trace.
    throw new ConfigError(`${(error as Error).message}\n${SEED_USAGE}`);
  }
  if (values.help) return { kind: 'help' };
  const profiles = wholeNumber(values.profiles);
  if (profiles === undefined || profiles < 1 || profiles > 5_000_000) {
    throw new ConfigError(`--profiles must be an integer between 1 and 5000000 (got "${values.profiles}")`);
  }
  const seed = wholeNumber(values.seed);
  if (seed === undefined || seed > 0xffff_ffff) {
    throw new ConfigError(`--seed must be an integer between 0 and 4294967295 (got "${values.seed}")`);
  }
  return { kind: 'seed', profiles, seed };
}

/** Plain decimal digits only: Number() would also take "", " ", "1e3" and "0x10". */
function wholeNumber(text: string): number | undefined {
  return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
}
