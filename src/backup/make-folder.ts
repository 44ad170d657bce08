import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `mkdir -p`, bounded. Node's `mkdir(path, { recursive: true })` retries without end, at full CPU, when the kernel
 * answers ENOENT for a path whose parent exists (procfs, sysfs, some FUSE mounts): a backup into such a BACKUP_DIR
 * never finished, and its lock, renewed all the while, refused every later backup and restore. Here each level is
 * created once, and a second ENOENT is thrown.
 */
export async function makeFolder(path: string): Promise<void> {
  try {
    await mkdir(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && (await stat(path)).isDirectory()) return;
    const parent = dirname(path);
    if (code !== 'ENOENT' || parent === path) throw error;
    await makeFolder(parent);
    await mkdir(path).catch(async (again: NodeJS.ErrnoException) => {
      // Created meanwhile by another process (two instances sharing the volume) is as good.
      if (again.code !== 'EEXIST' || !(await stat(path)).isDirectory()) throw again;
    });
  }
}
