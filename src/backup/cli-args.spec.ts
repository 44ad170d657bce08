import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/app-config.js';
import { parseCliArgs } from './cli-args.js';

const ID = '20261124T030000Z-3fa1';
const parse = (...args: string[]) => parseCliArgs(args, 'Usage: ...');

describe('parseCliArgs', () => {
  it('reads each command', () => {
    expect(parse()).toEqual({ kind: 'backup' });
    expect(parse('--list')).toEqual({ kind: 'list' });
    expect(parse('--verify', ID)).toEqual({ kind: 'verify', id: ID });
    expect(parse('--restore', ID, '--target-db', 'vesta_restore', '--drop')).toEqual({
      kind: 'restore',
      id: ID,
      targetDb: 'vesta_restore',
      drop: true,
      despiteFailedVerification: false,
    });
    expect(parse('--restore', ID, '--despite-failed-verification')).toMatchObject({ despiteFailedVerification: true });
    // `npm run restore -- <id>` puts --restore first; the id may come after the flags too.
    expect(parse('--restore', '--drop', ID)).toMatchObject({ kind: 'restore', id: ID, drop: true });
    expect(parse('--help', '--list')).toEqual({ kind: 'help' });
  });

  it.each([
    // Without --restore this started a backup and exited 0: the operator believed the data restored.
    [[ID], /Unexpected argument 20261124T030000Z-3fa1 \(to restore a backup, pass --restore before its id\)/],
    [['--restore', ID, 'vesta_restore'], /restore takes one backup id, not also vesta_restore/],
    [['--restore'], /restore needs a backup id/],
    [['--list', '--verify', ID], /Choose one of --list, --verify/],
    [['--target-db', 'vesta_restore'], /--target-db, --drop and --despite-failed-verification go with --restore/],
    [['--drop'], /--target-db, --drop and --despite-failed-verification go with --restore/],
    [['--despite-failed-verification'], /go with --restore/],
    // An unset shell variable: the driver read "" as the database in MONGODB_URI, the live one.
    [['--restore', ID, '--target-db', '', '--drop'], /--target-db "" is not a database name/],
    [['--restore', ID, '--target-db', 'vesta.restore'], /--target-db "vesta.restore" is not a database name/],
    [['--restore', ID, '--target-db', 'a'.repeat(64)], /is not a database name/],
    // 40 characters, 80 bytes: MongoDB counts bytes.
    [['--restore', ID, '--target-db', 'é'.repeat(40)], /is not a database name \(1-63 bytes/],
    // The last one won, silently: a script's `--target-db vesta_restore_<date>` followed by an operator's own flag
    // replaced the live database, and only the last of two backups was verified.
    [
      ['--restore', ID, '--target-db', 'vesta_restore', '--target-db', 'vesta', '--drop'],
      /--target-db given more than once \(vesta_restore, vesta\): give it once/,
    ],
    [['--verify', ID, '--verify', '20261125T030000Z-0b2c'], /--verify given more than once/],
    // parseArgs' own refusals, which came without the usage (and without a line end).
    [['--bogus'], /Unknown option '--bogus'/],
    [['--verify'], /Option '--verify <value>' argument missing/],
  ])('refuses %j with the reason and the usage', (args, reason) => {
    expect(() => parse(...args)).toThrow(ConfigError);
    expect(() => parse(...args)).toThrow(reason);
    expect(() => parse(...args)).toThrow(/Usage: \.\.\./);
  });
});
