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
      // Shared by unit specs in src too (the image builders).
      'test/factories',
      'nest-cli.json',
      'tsconfig.json',
      'package.json',
      'eslint.config.mjs',
      '.prettierrc',
      'scripts/generate.sh',
      'scripts/fix-generated-stubs.mjs',
    ]) {
      cpSync(join(root, entry), join(workdir, entry), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(workdir, 'node_modules'));
  });

  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  it('creates feature folders and pieces that are wired into AppModule, type-check and pass the linters', () => {
    const generate = (...args: string[]) => execFileSync('scripts/generate.sh', args, { cwd: workdir, stdio: 'pipe' });
    for (const schematic of ['module', 'controller', 'service']) generate(schematic, 'widgets');
    // The schematics' placeholder code: unused parameters (the CRUD stubs, a pipe's metadata) and `any`.
    generate('resource', 'gadgets');
    generate('pipe', 'common/pipes/trim', '--flat');
    for (const file of [
      'widgets/widgets.module.ts',
      'widgets/widgets.controller.ts',
      'widgets/widgets.service.ts',
      'widgets/widgets.service.spec.ts',
      'gadgets/gadgets.service.ts',
      'common/pipes/trim.pipe.ts',
    ]) {
      expect(existsSync(join(workdir, 'src', file)), file).toBe(true);
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
    const generated = ['src/widgets', 'src/gadgets', 'src/common/pipes/trim.pipe.ts', 'src/app.module.ts'];
    execFileSync(join(root, 'node_modules/.bin/eslint'), ['--max-warnings', '0', ...generated], {
      cwd: workdir,
      stdio: 'pipe',
    });
    execFileSync(join(root, 'node_modules/.bin/prettier'), ['--check', ...generated], { cwd: workdir, stdio: 'pipe' });
    // A failed schematic (here: the files exist) must not pass for a generated one: nest itself exits 0.
    expect(() => generate('controller', 'widgets')).toThrow(/nest generate wrote nothing/);
    // ESLint with type information takes from seconds to half a minute per run (on a busy machine), some ten in all.
  }, 900_000);
});
