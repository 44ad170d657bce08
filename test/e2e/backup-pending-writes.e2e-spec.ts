import { getConnectionToken } from '@nestjs/mongoose';
import { mongo, type Connection } from 'mongoose';
import { createHash, randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backup/backup-manifest.js';
import { BackupService } from '../../src/backup/backup.service.js';
import { MediaCleanup } from '../../src/media/media-cleanup.js';
import { MediaStorage, variantFilename } from '../../src/media/media.storage.js';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { backupCalling } from '../support/storage-swap.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/**
 * An upload writes its hash before it deletes its pending-write record, and the dump reads media.files before
 * media_pending_writes: an upload whose record is dumped whole, with its hash, can still have its pending record when
 * those are read (the API slow between its two writes). Restored with both, the media cleanup deleted it as abandoned
 * (until 2026-12-05), though its member had been told it was stored.
 */
describe('a backup taken while an upload is being accepted', () => {
  const app = appWithBackups();
  it('keeps the accepted upload through a restore and the media cleanup that follows', async () => {
    const member = await registerAccount(app.running.url);
    const media = app.running.app.get(MediaStorage, { strict: false });
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
    const pendingMetadata = `${app.db.databaseName}/media_pending_writes.metadata.json.gz`;
    const run = await backupCalling(app.backups, (path) => {
      if (path === pendingMetadata) release();
    });
    const stored = await upload;
    expect(stored).not.toBeNull();
    expect(run.status).toBe('succeeded');
    await expectRestoredAndKept(app, run._id, stored!.id.toHexString());
  });

  it('keeps such an upload restored from a backup written before 2026-12-05, which holds its pending record', async () => {
    // Versions before 2026-12-05 dumped the pending record of an upload accepted during the dump beside its whole file.
    // Such backups stay for BACKUP_RETENTION_DAYS; restored, the hourly cleanup deleted the upload as abandoned.
    const member = await registerAccount(app.running.url);
    const media = app.running.app.get(MediaStorage, { strict: false });
    const stored = await media.store(
      Readable.from([pngStructure(50_000)]),
      { ownerId: member.userId, contentType: 'image/png' },
      () => Promise.resolve(true),
    );
    const run = await app.backups.run('cli');
    expect(run.status).toBe('succeeded');
    await addToBackup(app.dir, run._id, `${app.db.databaseName}/media_pending_writes.bson.gz`, {
      _id: stored!.id,
      bucket: 'media',
      since: new Date(),
    });

    await expectRestoredAndKept(app, run._id, stored!.id.toHexString());
  });
});

describe('a backup taken while a photo variant is being stored', () => {
  const app = appWithBackups();

  it('keeps a variant finished while its bucket waited to be dumped, through a restore and the media cleanup', async () => {
    // The pending writes were dumped before media_variants.* (names sorted): a variant being written then, and finished
    // before its bucket was read, was in the backup whole and with its pending record, and after a restore the cleanup
    // deleted it; its original, marked processed, never got it again (until 2026-12-06).
    const member = await registerAccount(app.running.url);
    const media = app.running.app.get(MediaStorage, { strict: false });
    const original = await media.store(
      Readable.from([pngStructure(50_000)]),
      { ownerId: member.userId, contentType: 'image/png' },
      () => Promise.resolve(true),
    );
    const originalId = original!.id;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const chunksIn = new Promise<void>((resolve) => (written = resolve));
    // The variants job's write, paused once its chunks and record are in, before its hash.
    const variant = media.variants.upload(
      Buffer.alloc(20_000, 7),
      variantFilename(originalId, 'thumb'),
      { originalId, variant: 'thumb', contentType: 'image/webp', width: 128, height: 128 },
      async () => {
        written();
        await released;
        return true;
      },
    );
    await chunksIn;
    const variantChunks = `${app.db.databaseName}/media_variants.chunks.bson.gz`;
    const run = await backupCalling(app.backups, async (path) => {
      // The variant finishes just before its bucket is read.
      if (path === variantChunks) {
        release();
        await variant;
      }
    });
    expect(run.status).toBe('succeeded');
    await app.backups.restore(run._id, app.db.databaseName, { drop: true });
    await app.running.app.get(MediaCleanup, { strict: false }).run(new Date(Date.now() + 2 * 3_600_000));
    expect(await media.findVariant(originalId, 'thumb')).not.toBeNull();
  });
});

/** Restores backup `id` over the app's database: upload `mediaId` is served, and still is after the media cleanup. */
async function expectRestoredAndKept(app: ReturnType<typeof appWithBackups>, id: string, mediaId: string) {
  await app.backups.restore(id, app.db.databaseName, { drop: true });
  const status = async () => {
    const response = await fetch(`${app.running.url}/v1/media/${mediaId}`);
    await response.body?.cancel();
    return response.status;
  };
  expect(await status()).toBe(200);
  // An hour on, as the hourly cleanup sees a pending write restored from the backup.
  await app.running.app.get(MediaCleanup, { strict: false }).run(new Date(Date.now() + 2 * 3_600_000));
  expect(await status()).toBe(200);
}

/** Appends `document` to a data file of backup `id` and updates the manifest to match, as if the dump had written it. */
async function addToBackup(dir: string, id: string, path: string, document: mongo.Document): Promise<void> {
  const file = join(dir, id, path);
  const bytes = gzipSync(Buffer.concat([gunzipSync(await readFile(file)), mongo.BSON.serialize(document)]));
  await writeFile(file, bytes);
  const manifestPath = join(dir, id, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as BackupManifest;
  const entry = manifest.collections.find((collection) => collection.data.path === path)!;
  entry.documents += 1;
  entry.data = { path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  await writeFile(manifestPath, JSON.stringify(manifest));
}

/** An app of the describe's own, its backups in a scratch directory: started before its tests, closed after them. */
function appWithBackups() {
  const dir = join(tmpdir(), `vesta-backups-${randomUUID()}`);
  const app = { dir } as { running: RunningApp; backups: BackupService; db: mongo.Db; dir: string };
  beforeAll(async () => {
    app.running = await startApp(testConfig({ BACKUP_DIR: dir }));
    app.backups = app.running.app.get(BackupService);
    app.db = app.running.app.get<Connection>(getConnectionToken()).db!;
  });
  afterAll(async () => {
    await app.running.close();
    await rm(dir, { recursive: true, force: true });
  });
  return app;
}
