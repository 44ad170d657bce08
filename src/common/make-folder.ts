import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `mkdir -p`, bounded. Node's `mkdir(path, { recursive: true })` retries without end, at full CPU, when the kernel
 * answers ENOENT for a path whose parent exists (procfs, sysfs, some FUSE mounts): a backup into such a BACKUP_DIR
 * never finished, and its lock, renewed all the while, refused every later backup and restore; a load test with
 * `--out /proc/x` hung before it printed anything. Here each level is created once, and a second ENOENT is thrown.
 * Returns the first folder it created (undefined when the folder was there), as `mkdir` does, so that a caller can
 * remove what it made.
 */
export async function makeFolder(path: string): Promise<string | undefined> {
  try {
    await mkdir(path);
    return path;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await stat(path)).isDirectory()) return undefined;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    const first = await makeFolder(parent);
    await mkdir(path).catch(async (again: NodeJS.ErrnoException) => {
      // Created meanwhile by another process (two instances sharing the volume) is as good.
      if (again.code !== 'EEXIST' || !(await stat(path)).isDirectory()) throw again;
    });
    return first ?? path;
  }
}
