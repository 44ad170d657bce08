import { buffer } from 'node:stream/consumers';
import { MANIFEST_FILE, type BackupManifest } from './backup-manifest.js';
import type { BackupStorage } from './backup-storage.js';
import { BackupIntegrityError } from './dump-restorer.js';

export class BackupNotFoundError extends Error {}

/**
 * The manifest of complete backup `id`. One that is missing, cut short, not a manifest, or of another backup (a
 * copied folder: its files would be read from the backup it names) is damaged, said so with the backup and the file,
 * rather than `Unexpected end of JSON input` or `manifest.collections is not iterable`.
 */
export async function readManifest(storage: BackupStorage, id: string): Promise<BackupManifest> {
  if (!(await storage.list()).includes(id)) throw new BackupNotFoundError(`No complete backup ${id}`);
  const damaged = (why: string) => new BackupIntegrityError(`Backup ${id} is damaged: ${MANIFEST_FILE} ${why}`);
  let text: string;
  try {
    text = (await buffer(storage.open(id, MANIFEST_FILE))).toString('utf8');
  } catch (error) {
    throw damaged((error as Error).message);
  }
  let manifest: Partial<BackupManifest>;
  try {
    manifest = JSON.parse(text) as Partial<BackupManifest>;
  } catch (error) {
    throw damaged(`is not valid JSON (${(error as Error).message})`);
  }
  if (
    typeof manifest !== 'object' ||
    manifest === null ||
    typeof manifest.id !== 'string' ||
    typeof manifest.database !== 'string' ||
    typeof manifest.finishedAt !== 'string' ||
    !Array.isArray(manifest.collections)
  ) {
    throw damaged('is not a backup manifest (no id, database, finishedAt or collections)');
  }
  if (manifest.id !== id) throw damaged(`names backup ${manifest.id}`);
  return manifest as BackupManifest;
}
