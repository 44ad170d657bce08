import type { BackupStorage } from '../../src/backup/backup-storage.js';
import type { BackupService } from '../../src/backup/backup.service.js';

/** Runs `work` with the service's backup storage replaced by `change(real)` (the rest of the real one kept). */
export async function withStorage<T>(
  service: BackupService,
  change: (real: BackupStorage) => Partial<BackupStorage>,
  work: () => Promise<T>,
): Promise<T> {
  const real = service.storage;
  const replaced = Object.assign(Object.create(real) as BackupStorage, change(real));
  Object.defineProperty(service, 'storage', { value: replaced, configurable: true });
  try {
    return await work();
  } finally {
    Object.defineProperty(service, 'storage', { value: real, configurable: true });
  }
}

/** A backup run whose dump calls `beforeFile` with each file's path before it writes that file. */
export const backupCalling = (backups: BackupService, beforeFile: (path: string) => Promise<void> | void) =>
  withStorage(
    backups,
    (real: BackupStorage) => ({
      begin: async (id: string) => {
        const draft = await real.begin(id);
        return {
          ...draft,
          create: async (path: string) => {
            await beforeFile(path);
            return draft.create(path);
          },
        };
      },
    }),
    () => backups.run('cli'),
  );
