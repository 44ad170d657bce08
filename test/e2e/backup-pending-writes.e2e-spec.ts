import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection, mongo } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupStorage } from '../../src/backup/backup-storage.js';
import { BackupService } from '../../src/backup/backup.service.js';
import { MediaCleanup } from '../../src/media/media-cleanup.js';
import { MediaStorage } from '../../src/media/media.storage.js';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { withStorage } from '../support/storage-swap.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/**
 * An upload writes its hash before it deletes its pending-write record, and the dump reads media.files before
 * media_pending_writes: an upload whose record is dumped whole, with its hash, can still have its pending record when
 * those are read (the API slow between its two writes). Restored with both, the media cleanup deleted it as abandoned
 * (until 2026-12-05), though its member had been told it was stored.
 */
describe('a backup taken while an upload is being accepted', () => {
  let running: RunningApp;
  let backups: BackupService;
  let db: mongo.Db;
  let dir: string;
  beforeAll(async () => {
    dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
    running = await startApp(testConfig({ BACKUP_DIR: dir }));
    backups = running.app.get(BackupService);
    db = running.app.get<Connection>(getConnectionToken()).db!;
  });
  afterAll(async () => {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  });
  it('keeps the accepted upload through a restore and the media cleanup that follows', async () => {
    const member = await registerAccount(running.url);
    const media = running.app.get(MediaStorage, { strict: false });
    const bytes = pngStructure(300_000);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let hashWritten!: () => void;
    const hashed = new Promise<void>((resolve) => (hashWritten = resolve));
    let asked = 0;
    // The API's event loop stalls between writing the file's hash and deleting its pending-write record.
    const keep = async () => {
      asked += 1;
      if (asked === 2) {
        hashWritten();
        await released;
      }
      return true;
    };
    const upload = media.store(Readable.from([bytes]), { ownerId: member.userId, contentType: 'image/png' }, keep);
    await hashed;
    const pendingMetadata = `${db.databaseName}/media_pending_writes.metadata.json.gz`;
    const run = await withStorage(
      backups,
      (real: BackupStorage) => ({
        begin: async (id: string) => {
          const draft = await real.begin(id);
          return {
            ...draft,
            create: async (path: string) => {
              if (path === pendingMetadata) release();
              return draft.create(path);
            },
          };
        },
      }),
      () => backups.run('cli'),
    );
    const stored = await upload;
    expect(stored).not.toBeNull();
    expect(run.status).toBe('succeeded');
    await backups.restore(run._id, db.databaseName, { drop: true });
    const url = `${running.url}/v1/media/${stored!.id.toHexString()}`;
    const restored = await fetch(url);
    await restored.body?.cancel();
    expect(restored.status).toBe(200);
    // An hour on, as the hourly cleanup sees a pending write restored from the backup.
    await running.app.get(MediaCleanup, { strict: false }).run(new Date(Date.now() + 2 * 3_600_000));
    const response = await fetch(url);
    await response.body?.cancel();
    expect(response.status).toBe(200);
  });
});
