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
