import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../support/test-env.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a built command-line entry point as an operator would, with exactly `env`. */
const run = (script: string, args: string[], env: Record<string, string>) =>
  new Promise<CliResult>((resolve) => {
    const fullEnv = { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'warn' };
    execFile(process.execPath, [script, ...args], { env: fullEnv }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });

// The seed and backup commands read the API's configuration (README, docs/operations.md), so a MONGODB_URI the driver
// refuses stops them as it stops the API: one line naming the variable, at once, not five connect retries with stack
// traces.
describe('the seed and backup commands on a MONGODB_URI the driver refuses', () => {
  it.each([
    ['npm run seed', 'dist/seed/seed.js', ['--profiles', '1']],
    ['npm run backup', 'dist/backup/cli.js', []],
    ['npm run restore', 'dist/backup/cli.js', ['--restore', '20260101T000000Z-0000']],
  ])('%s stops with one line naming MONGODB_URI', async (_name, script, args) => {
    for (const uri of ['mongodb://127.0.0.1:99999/vesta', 'mongodb://127.0.0.1/vesta?foo=bar']) {
      const result = await run(script, args, testEnv({ MONGODB_URI: uri }));
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/^Invalid configuration: MONGODB_URI is not a URI the MongoDB driver accepts: /),
      ]);
    }
  });
});
