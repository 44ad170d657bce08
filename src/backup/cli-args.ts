import { parseArgs } from 'node:util';
import { ConfigError } from '../config/app-config.js';

/**
 * A database name MongoDB takes on every platform: 1 to 63 bytes of UTF-8 (not characters: until 2026-12-08, 40 of `é`
 * passed here), none of / \ . space " $ * < > : | ? or NUL. Checked before anything runs: the driver reads an empty
 * name as the one in MONGODB_URI (`--target-db "$UNSET"` restored into, and with --drop dropped, the live database),
 * and refuses a bad one only after every file was read.
 */
const DATABASE_NAME = /^[^/\\. "$*<>:|?\0]+$/;
const DATABASE_NAME_MAX_BYTES = 63;

const isDatabaseName = (name: string) => DATABASE_NAME.test(name) && Buffer.byteLength(name) <= DATABASE_NAME_MAX_BYTES;

export type CliCommand =
  | { kind: 'help' }
  | { kind: 'backup' }
  | { kind: 'list' }
  | { kind: 'verify'; id: string }
  | { kind: 'restore'; id: string; targetDb?: string; drop: boolean; despiteFailedVerification: boolean };

/**
 * The CLI's arguments as one command. Anything left over is refused rather than ignored: `cli.js <id>` without
 * `--restore` used to start a backup and exit 0, and `--list --verify <id>` to list and verify nothing.
 */
export function parseCliArgs(args: string[], usage: string): CliCommand {
  const refuse = (why: string) => new ConfigError(`${why}\n${usage}`);
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(args);
  } catch (error) {
    // parseArgs' TypeError (an unknown option, a missing value): its message alone, without the usage, was all a
    // mistyped command printed.
    throw refuse((error as Error).message);
  }
  const { positionals } = parsed;
  // Given twice, parseArgs kept the last silently: `--target-db vesta_restore … --target-db vesta --drop` replaced the
  // live database, and `--verify <a> --verify <b>` verified only b.
  const once = (name: 'verify' | 'target-db'): string | undefined => {
    const given = parsed.values[name];
    if (given && given.length > 1) throw refuse(`--${name} given more than once (${given.join(', ')}): give it once`);
    return given?.[0];
  };
  const values = { ...parsed.values, verify: once('verify'), 'target-db': once('target-db') };
  if (values.help) return { kind: 'help' };
  const modes = [values.restore && '--restore', values.list && '--list', values.verify !== undefined && '--verify'];
  const chosen = modes.filter(Boolean);
  if (chosen.length > 1) throw refuse(`Choose one of ${chosen.join(', ')}`);
  if (!values.restore && (values['target-db'] !== undefined || values.drop || values['despite-failed-verification'])) {
    throw refuse('--target-db, --drop and --despite-failed-verification go with --restore');
  }
  if (values.restore) {
    const [id, ...extra] = positionals;
    if (!id) throw refuse('restore needs a backup id');
    if (extra.length) throw refuse(`restore takes one backup id, not also ${extra.join(' ')}`);
    const targetDb = values['target-db'];
    if (targetDb !== undefined && !isDatabaseName(targetDb)) {
      throw refuse(
        `--target-db ${JSON.stringify(targetDb)} is not a database name (1-63 bytes, no / \\ . " $ or spaces)`,
      );
    }
    return {
      kind: 'restore',
      id,
      targetDb,
      drop: values.drop,
      despiteFailedVerification: values['despite-failed-verification'],
    };
  }
  if (positionals.length) {
    throw refuse(`Unexpected argument ${positionals.join(' ')} (to restore a backup, pass --restore before its id)`);
  }
  if (values.list) return { kind: 'list' };
  if (values.verify !== undefined) return { kind: 'verify', id: values.verify };
  return { kind: 'backup' };
}

function parseOptions(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      restore: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      verify: { type: 'string', multiple: true },
      'target-db': { type: 'string', multiple: true },
      drop: { type: 'boolean', default: false },
      'despite-failed-verification': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
}
