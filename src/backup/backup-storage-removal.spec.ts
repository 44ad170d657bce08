import type * as FsPromises from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * A removal cut short: the process killed during it, or a file in the backup it may not delete (another owner's, a
 * read-only subfolder). Tests run as root here, who may delete anything, so `rm` is made to stop after the manifest.
 */
const interrupt = vi.hoisted(() => ({ on: false }));
vi.mock('node:fs/promises', async (original) => {
  const fs = await original<typeof FsPromises>();
  return {
    ...fs,
    rm: async (path: string, options?: Parameters<typeof fs.rm>[1]) => {
      if (!interrupt.on) return fs.rm(path, options);
      await fs.rm(join(path, 'manifest.json'), { force: true });
      throw Object.assign(new Error(`EACCES: permission denied, rmdir '${path}/vesta'`), { code: 'EACCES' });
    },
  };
});

const { LocalBackupStorage } = await import('./backup-storage.js');

const ID = '20261101T030000Z-0a01';

describe('LocalBackupStorage removing a backup, cut short', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'vesta-backup-removal-'));
    await mkdir(join(root, ID, 'vesta'), { recursive: true });
    await writeFile(join(root, ID, 'manifest.json'), '{}');
    await writeFile(join(root, ID, 'vesta', 'users.bson.gz'), 'emails and password hashes');
    interrupt.on = false;
  });

  afterEach(() => rm(root, { recursive: true, force: true }));

  it('no longer lists it, and removes what is left at the next clean-up', async () => {
    const storage = new LocalBackupStorage(root);
    interrupt.on = true;
    await expect(storage.remove(ID)).rejects.toThrow(/EACCES/);
    interrupt.on = false;
    // Listed without its manifest, it was a damaged backup: offered to --restore, and kept by every later retention,
    // which then reported success, with the members' data in it, for good.
    expect(await storage.list()).toEqual([]);
    await storage.removeAbandonedDrafts(60 * 60 * 1000);
    expect(await readdir(root)).toEqual([]);
  });
});
