import type * as FsPromises from 'node:fs/promises';
import { beforeEach, describe, expect, it, vi } from 'vitest';

// A read-only volume, without one: root may write anywhere a test could create (tests run as root here).
const fs = vi.hoisted(() => ({ access: vi.fn(), mkdir: vi.fn() }));
vi.mock('node:fs/promises', async (original) => ({
  ...(await original<typeof FsPromises>()),
  access: fs.access,
  mkdir: fs.mkdir,
}));

const { LocalBackupStorage } = await import('./backup-storage.js');

describe('LocalBackupStorage on a folder it cannot write', () => {
  beforeEach(() => {
    fs.mkdir.mockResolvedValue(undefined);
    fs.access.mockRejectedValue(Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' }));
  });

  it('says the backup folder is not writable before starting a draft', async () => {
    const storage = new LocalBackupStorage('/backups');
    await expect(storage.begin('20261124T030000Z-3fa1')).rejects.toThrow(
      'The backup folder /backups (BACKUP_DIR) is not writable: EROFS',
    );
    expect(fs.mkdir).not.toHaveBeenCalledWith(expect.stringContaining('.draft-'));
  });
});
