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
});
