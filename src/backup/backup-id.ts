import { randomBytes } from 'node:crypto';

/** `20261124T030000Z-3fa1`: the UTC start time, then four random hex digits. */
const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-f]{4}$/;

/** Sorts by time, unique enough for one backup at a time. */
export function newBackupId(now = new Date()): string {
  const time = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${time}-${randomBytes(2).toString('hex')}`;
}

/**
 * Whether a folder name is one this application gave a backup. Anything else in the backup folder
 * (`lost+found` on a volume's root, an operator's notes) is not a backup: listing it would offer it for
 * restore and, sorting after the digits, make it the "newest" that retention always keeps.
 */
export function isBackupId(name: string): boolean {
  return BACKUP_ID.test(name);
}
