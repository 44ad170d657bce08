import { describe, expect, it } from 'vitest';
import { isBackupId, newBackupId } from './backup-id.js';

describe('backup ids', () => {
  it('names a backup by its UTC start time, sortable, and recognises its own ids', () => {
    const id = newBackupId(new Date('2026-11-24T03:00:00.123Z'));
    expect(id).toMatch(/^20261124T030000Z-[0-9a-f]{4}$/);
    expect(isBackupId(id)).toBe(true);
  });

  it('recognises nothing else a backup folder may hold', () => {
    for (const name of ['lost+found', '.draft-20261124T030000Z-3fa1', '20261124T030000Z-3fa1-copy', 'notes']) {
      expect(isBackupId(name)).toBe(false);
    }
  });
});
