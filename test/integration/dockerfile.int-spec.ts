import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * There is no Docker engine on our machines, so the image is checked by reading its recipe: what it copies exists,
 * it runs what `npm run start:prod` runs, as an unprivileged user who can write the folders the app writes.
 */
interface Stage {
  instructions: { keyword: string; args: string }[];
}

/** The Dockerfile's stages, each a list of instructions (continuation lines joined, comments dropped). */
function stages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const result: Stage[] = [];
  for (const line of lines) {
    const [, keyword, args] = /^(\S+)\s+(.*)$/.exec(line)!;
    if (keyword.toUpperCase() === 'FROM') result.push({ instructions: [] });
    result.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
  }
  return result;
}

const argsOf = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

describe('Dockerfile', () => {
  const all = stages(readFileSync('Dockerfile', 'utf8'));
  const runtime = all.at(-1)!;
  const user = argsOf(runtime, 'USER').at(-1);
  const env = Object.fromEntries(
    argsOf(runtime, 'ENV').flatMap((args) => [...args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]])),
  );

  it('copies from the build context only files that exist and .dockerignore lets through', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').filter(Boolean);
    const copied = all
      .flatMap((stage) => argsOf(stage, 'COPY'))
      .filter((args) => !args.startsWith('--from='))
      .flatMap((args) => args.split(/\s+/).slice(0, -1));
    expect(copied.length).toBeGreaterThan(0);
    for (const path of copied) {
      expect(existsSync(path), path).toBe(true);
      expect(ignored.includes(path) || ignored.includes(`${path}/`), `${path} is in .dockerignore`).toBe(false);
    }
  });

  it('runs what npm run start:prod runs, as an unprivileged user', () => {
    const startProd = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts[
      'start:prod'
    ];
    const cmd = JSON.parse(argsOf(runtime, 'CMD').at(-1)!) as string[];
    expect(cmd.join(' ')).toBe(startProd);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
  });

  // Owned by the user it runs as (until 2026-12-08), a process taken over could rewrite the app's code for its next
  // start wherever the root filesystem is writable (docker compose; Kubernetes mounts it read-only).
  it('leaves the code it runs owned by root, so the user it runs as can read it but not rewrite it', () => {
    const copies = argsOf(runtime, 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const args of copies) expect(args, args).not.toMatch(/--chown=/);
  });

  it('builds and runs on a pinned release of the Node major the tests run on', () => {
    const images = all.map((stage) => stage.instructions[0].args.split(/\s+/)[0]);
    expect(new Set(images).size, images.join(', ')).toBe(1);
    // A major-only or moving tag (node:24, node:lts) changes under the image at the next build.
    const version = /^node:(\d+)\.\d+\.\d+-[\w.-]+$/.exec(images[0]);
    expect(version, images[0]).not.toBeNull();
    expect(`node ${version![1]}`).toBe(`node ${process.versions.node.split('.')[0]}`);
  });

  it('compiles native addons in the build stage instead of trusting their prebuilt binaries', () => {
    // argon2's prebuilt linux-x64 binary crashes on load on some CPUs (this project's AMD EPYC machines among them).
    const runs = argsOf(all[0], 'RUN');
    const tools = runs.findIndex(
      (args) =>
        args.includes('apt-get install') &&
        ['python3', 'make', 'g++'].every((tool) => args.split(/\s+/).includes(tool)),
    );
    const install = runs.findIndex((args) => /\bnpm ci\b/.test(args));
    expect(tools, 'a RUN in the build stage that installs python3, make and g++').toBeGreaterThanOrEqual(0);
    expect(install, 'npm ci after the build tools').toBeGreaterThan(tools);
    expect(runs[install]).toContain('--build-from-source');
  });

  it('gives backups a folder the user can write, and docker compose keeps it on a volume', () => {
    // The default ./backups would be /app/backups, inside a folder root owns: every backup would fail with EACCES.
    const dir = env.BACKUP_DIR;
    expect(dir?.startsWith('/'), 'ENV BACKUP_DIR names an absolute path').toBe(true);
    const created = argsOf(runtime, 'RUN').some(
      (args) => args.includes(`mkdir -p ${dir}`) && args.includes(`chown ${user}:${user} ${dir}`),
    );
    expect(created, `a RUN that creates ${dir} and gives it to ${user}`).toBe(true);
    const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
      services: { api: { volumes?: string[] } };
    };
    expect(compose.services.api.volumes ?? []).toContainEqual(expect.stringMatching(new RegExp(`^\\w+:${dir}$`)));
  });
});

describe('docker-compose.yml', () => {
  it('publishes its ports on the host loopback only: MongoDB and Redis have no authentication', () => {
    const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
      services: Record<string, { ports?: string[] }>;
    };
    const published = Object.entries(compose.services).flatMap(([name, service]) =>
      (service.ports ?? []).map((port) => `${name} ${port}`),
    );
    expect(published).toHaveLength(4);
    expect(published.filter((entry) => !/ 127\.0\.0\.1:\d+:\d+$/.test(entry))).toEqual([]);
  });
});

/** The package a bare module specifier names (`@scope/name` or `name`), or undefined for a path or a Node module. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier))
    return undefined;
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

describe('package.json', () => {
  it('lists every package the app imports among its own dependencies, not only as another package’s', () => {
    const { dependencies } = JSON.parse(readFileSync('package.json', 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const files = readdirSync('src', { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !/\.(fixture-)?spec\.ts$/.test(file))
      .map((file) => join('src', file));
    const missing = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const specifiers = [
        // Static and dynamic imports and re-exports, as the compiler reads them (comments and strings ignored).
        ...ts.preProcessFile(text, true, true).importedFiles.map((imported) => imported.fileName),
        // Loader hooks (module.register) name a module too.
        ...[...text.matchAll(/\bregister\(\s*'([^']+)'/g)].map((match) => match[1]),
      ];
      for (const name of specifiers.map(packageOf)) if (name && !dependencies[name]) missing.add(`${name} (${file})`);
    }
    // One that is only another package's dependency goes when that package stops needing it, or moves to a version
    // that package did not test with; and `npm prune --omit=dev` in the image keeps it only while it is needed there.
    expect([...missing]).toEqual([]);
  });
});
