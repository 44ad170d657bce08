import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p`, bounded (as src/backup/make-folder.ts). Node's `mkdirSync(path, { recursive: true })` retries without
 * end, at full CPU, when the kernel answers ENOENT for a path whose parent exists (procfs, sysfs, some FUSE mounts):
 * `--out /proc/x/results` hung the tool before it printed anything. Here each level is created once, and a second
 * ENOENT is thrown. Returns the first folder it created, as `mkdirSync` does, so a failed run can remove it.
 */
export function makeFolder(path: string): string | undefined {
  try {
    mkdirSync(path);
    return path;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && statSync(path).isDirectory()) return undefined;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    const first = makeFolder(parent);
    mkdirSync(path);
    return first ?? path;
  }
}
