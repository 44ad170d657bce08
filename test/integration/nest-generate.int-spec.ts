import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** `nest generate` is how developers extend the service: its output must land in place and compile. */
describe('nest generate', () => {
  const root = process.cwd();
  let workdir: string;

  beforeAll(() => {
    workdir = mkdtempSync(join(tmpdir(), 'vesta-generate-'));
    for (const entry of [
      'src',
      'nest-cli.json',
      'tsconfig.json',
      'package.json',
      'eslint.config.mjs',
      '.prettierrc',
      'scripts/generate.sh',
    ]) {
      cpSync(join(root, entry), join(workdir, entry), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(workdir, 'node_modules'));
  });

  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  it('creates a feature folder that is wired into AppModule, type-checks and passes the linters', () => {
    for (const schematic of ['module', 'controller', 'service']) {
      execFileSync('scripts/generate.sh', [schematic, 'widgets'], { cwd: workdir, stdio: 'pipe' });
    }
    for (const file of [
      'widgets.module.ts',
      'widgets.controller.ts',
      'widgets.service.ts',
      'widgets.service.spec.ts',
    ]) {
      expect(existsSync(join(workdir, 'src/widgets', file))).toBe(true);
    }
    expect(readFileSync(join(workdir, 'src/app.module.ts'), 'utf8')).toContain(
      "import { WidgetsModule } from './widgets/widgets.module.js';",
    );
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['--noEmit', '-p', 'tsconfig.json'], {
      cwd: workdir,
      stdio: 'pipe',
    });
    // What `npm run check` asks of every file; the schematics' own output (value imports of types, no trailing
    // commas) fails it.
    const generated = ['src/widgets', 'src/app.module.ts'];
    execFileSync(join(root, 'node_modules/.bin/eslint'), ['--max-warnings', '0', ...generated], {
      cwd: workdir,
      stdio: 'pipe',
    });
    execFileSync(join(root, 'node_modules/.bin/prettier'), ['--check', ...generated], { cwd: workdir, stdio: 'pipe' });
  }, 240_000); // ESLint with type information takes seconds per run: four runs in all.
});
