import { z } from 'zod';
import { readAtMost } from '../common/streams/read-at-most.js';
import { MANIFEST_FILE, type BackupManifest } from './backup-manifest.js';
import { BACKUP_BOOKKEEPING_COLLECTIONS } from './backup-runs.js';
import { BackupFolderMissingError, type BackupStorage } from './backup-storage.js';
import { BackupIntegrityError } from './dump-restorer.js';

export class BackupNotFoundError extends Error {}

/** Far above any manifest a backup writes (about 500 bytes a collection), far below the memory of a pod. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const manifestFile = z.object({
  path: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
/** A manifest as backups write it (backup-manifest.ts); fields it does not name are kept. */
const manifestSchema = z.looseObject({
  id: z.string(),
  database: z.string().min(1),
  appVersion: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  collections: z.array(
    z.looseObject({
      name: z.string().min(1),
      documents: z.number().int().nonnegative(),
      data: manifestFile,
      metadata: manifestFile,
    }),
  ),
});

/**
 * The manifest of complete backup `id`. One that is missing, cut short, not a manifest, or of another backup (a
 * copied folder: its files would be read from the backup it names) is damaged, said so with the backup and the file,
 * rather than `Unexpected end of JSON input`, `manifest.collections is not iterable` or, for a collection entry that
 * was edited by hand, `Cannot read properties of undefined`.
 */
export async function readManifest(storage: BackupStorage, id: string): Promise<BackupManifest> {
  const ids = await storage.list().catch((error: Error) => {
    // Not found rather than failed: a verification must not record a backup as failed for a mistyped BACKUP_DIR.
    if (!(error instanceof BackupFolderMissingError)) throw error;
    throw new BackupNotFoundError(`No complete backup ${id}: ${error.message}`);
  });
  if (!ids.includes(id)) throw new BackupNotFoundError(`No complete backup ${id}`);
  const damaged = (why: string) => new BackupIntegrityError(`Backup ${id} is damaged: ${MANIFEST_FILE} ${why}`);
  let text: string;
  try {
    // Bounded: read whole, a file put there in its place (a log, a copied dump file) could take all the memory there is.
    text = (await readAtMost(storage.open(id, MANIFEST_FILE), MAX_MANIFEST_BYTES)).toString('utf8');
  } catch (error) {
    throw damaged((error as Error).message);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw damaged(`is not valid JSON (${(error as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    throw damaged(`is not a backup manifest (${issue.path.join('.') || 'the whole file'}: ${issue.message})`);
  }
  if (parsed.data.id !== id) throw damaged(`names backup ${parsed.data.id}`);
  // Checked here, before a restore drops anything: a name listed twice failed at its second createCollection, and one
  // the restore keeps or the server owns (backup_lock, system.*) was written over the lock or refused, each after
  // --drop had emptied the target.
  const seen = new Set<string>();
  for (const { name } of parsed.data.collections) {
    if (seen.has(name)) throw damaged(`lists collection ${name} twice`);
    if (name.startsWith('system.') || BACKUP_BOOKKEEPING_COLLECTIONS.has(name)) {
      throw damaged(`lists collection ${name}, which no backup holds`);
    }
    seen.add(name);
  }
  return parsed.data;
}
