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
    for (const entry of ['src', 'nest-cli.json', 'tsconfig.json', 'package.json']) {
      cpSync(join(root, entry), join(workdir, entry), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(workdir, 'node_modules'));
  });

  afterAll(() => rmSync(workdir, { recursive: true, force: true }));

  it('creates a feature folder that is wired into AppModule and type-checks', () => {
    const nest = join(root, 'node_modules/.bin/nest');
    for (const schematic of ['module', 'controller', 'service']) {
      execFileSync(nest, ['generate', schematic, 'widgets'], { cwd: workdir, stdio: 'pipe' });
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
  });
});
