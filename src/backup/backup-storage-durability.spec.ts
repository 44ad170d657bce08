import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// What reached the disk, in order: every fsync (by path) and the rename that publishes the backup.
const steps = vi.hoisted(() => [] as string[]);
/** Paths whose fsync fails with this code, as some network and FUSE filesystems answer for folders. */
const refused = vi.hoisted(() => new Map<string, string>());
vi.mock('node:fs/promises', async (original) => {
  const fs = await original<typeof FsPromises>();
  return {
    ...fs,
    open: async (path: string, flags?: string) => {
      const handle = await fs.open(path, flags);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        const code = refused.get(path);
        if (code) throw Object.assign(new Error(`${code}: sync refused`), { code });
        await sync();
        steps.push(`sync ${path}`);
      };
      return handle;
    },
    rename: async (from: string, to: string) => {
      await fs.rename(from, to);
      steps.push(`rename ${from} -> ${to}`);
    },
  };
});

const { LocalBackupStorage } = await import('./backup-storage.js');

describe('LocalBackupStorage commit', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'vesta-backup-sync-'));
    steps.length = 0;
    refused.clear();
  });

  afterEach(() => rm(root, { recursive: true, force: true }));

  it('flushes every file and folder of the draft before the rename, and the backup folder after it', async () => {
    const id = '20261205T030000Z-3fa1';
    const draft = await new LocalBackupStorage(root).begin(id);
    for (const path of ['vesta/profiles.bson.gz', 'vesta/users.bson.gz', 'manifest.json']) {
      const file = await draft.create(path);
      file.end('bytes');
      await finished(file);
    }
    await draft.commit();

    const folder = join(root, `.draft-${id}`);
    const renamed = steps.indexOf(`rename ${folder} -> ${join(root, id)}`);
    expect(renamed).toBeGreaterThan(0);
    expect(steps.slice(0, renamed).sort()).toEqual(
      [
        `sync ${folder}`,
        `sync ${join(folder, 'manifest.json')}`,
        `sync ${join(folder, 'vesta')}`,
        `sync ${join(folder, 'vesta/profiles.bson.gz')}`,
        `sync ${join(folder, 'vesta/users.bson.gz')}`,
      ].sort(),
    );
    expect(steps.slice(renamed + 1)).toEqual([`sync ${root}`]);
  });

  it('commits where the filesystem refuses to sync a folder, but not where it fails to sync a file', async () => {
    const storage = new LocalBackupStorage(root);
    const write = async (id: string) => {
      const draft = await storage.begin(id);
      const file = await draft.create('manifest.json');
      file.end('{}');
      await finished(file);
      return draft;
    };
    refused.set(root, 'EINVAL');
    await (await write('20261205T030000Z-aaaa')).commit();
    expect(await storage.list()).toEqual(['20261205T030000Z-aaaa']);

    refused.set(join(root, '.draft-20261205T040000Z-bbbb', 'manifest.json'), 'EIO');
    await expect((await write('20261205T040000Z-bbbb')).commit()).rejects.toThrow('EIO');
    expect(await storage.list()).toEqual(['20261205T030000Z-aaaa']);
  });
});
