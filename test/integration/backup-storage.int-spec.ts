import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { finished } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalBackupStorage } from '../../src/backup/backup-storage.js';

/** Writes one file into a new backup `id` and commits it. */
async function writeBackup(storage: LocalBackupStorage, id: string, path: string, text: string): Promise<void> {
  const draft = await storage.begin(id);
  const file = await draft.create(path);
  file.end(text);
  await finished(file);
  await draft.commit();
}

describe('LocalBackupStorage on a real folder', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'vesta-backup-storage-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes, lists and reads a backup when BACKUP_DIR ends with a slash', async () => {
    const storage = new LocalBackupStorage(`${root}/`);
    await writeBackup(storage, '20261124T030000Z-3fa1', 'vesta/profiles.bson.gz', 'bytes');
    expect(await storage.list()).toEqual(['20261124T030000Z-3fa1']);
    const read = await buffer(storage.open('20261124T030000Z-3fa1', 'vesta/profiles.bson.gz'));
    expect(read.toString()).toBe('bytes');
    await storage.remove('20261124T030000Z-3fa1'); // as retention does
    expect(await storage.list()).toEqual([]);
  });

  it('still refuses paths that leave the backup', async () => {
    const storage = new LocalBackupStorage(`${root}/`);
    await writeBackup(storage, '20261124T030000Z-3fa1', 'manifest.json', '{}');
    expect(() => storage.open('20261124T030000Z-3fa1', '../../etc/passwd')).toThrow(/outside the backup/);
    expect(() => storage.open('20261124T030000Z-3fa1', '/etc/passwd')).toThrow(/outside the backup/);
    await expect(async () => storage.remove('..')).rejects.toThrow(/outside the backup/);
  });

  it('lists only folders named like backups, so lost+found is neither offered nor kept as the newest', async () => {
    const storage = new LocalBackupStorage(root);
    await writeBackup(storage, '20261124T030000Z-3fa1', 'manifest.json', '{}');
    await writeBackup(storage, '20261125T030000Z-0b2c', 'manifest.json', '{}');
    for (const other of ['lost+found', 'notes', '20261126T030000Z-copy']) await mkdir(join(root, other));
    expect(await storage.list()).toEqual(['20261124T030000Z-3fa1', '20261125T030000Z-0b2c']);
  });

  it('fails at once, not spinning for ever, on a folder the kernel refuses to create (procfs answers ENOENT)', async () => {
    // Node's own recursive mkdir retries such a path without end at full CPU: the backup then never finished, and its
    // lock, renewed all the while, refused every later backup and restore.
    const storage = new LocalBackupStorage('/proc/vesta-backups');
    const soon = <T>(work: Promise<T>) =>
      Promise.race([work, new Promise((_, reject) => setTimeout(() => reject(new Error('still running')), 5_000))]);
    await expect(soon(storage.begin('20261124T030000Z-3fa1'))).rejects.toThrow(
      'The backup folder /proc/vesta-backups (BACKUP_DIR) is not writable: ENOENT',
    );
    // A listing creates nothing: it says the folder is not there.
    await expect(soon(storage.list())).rejects.toThrow(
      'The backup folder /proc/vesta-backups (BACKUP_DIR) does not exist',
    );
    await expect(soon(storage.removeAbandonedDrafts(0))).rejects.toThrow(/ENOENT/);
  });

  it('creates a missing BACKUP_DIR with its missing parents', async () => {
    const storage = new LocalBackupStorage(join(root, 'a', 'b', 'backups'));
    await writeBackup(storage, '20261124T030000Z-3fa1', 'vesta/profiles.bson.gz', 'bytes');
    expect(await storage.list()).toEqual(['20261124T030000Z-3fa1']);
  });
});
