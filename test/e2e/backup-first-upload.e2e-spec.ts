import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection, mongo } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backup/backup-manifest.js';
import { BackupService } from '../../src/backup/backup.service.js';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { uploadMedia } from '../factories/media.js';
import { backupCalling } from '../support/storage-swap.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig, workerMongoUri } from '../support/test-env.js';

/**
 * A bucket's chunks collection is created by its first upload (`media.files` exists from the start: the API indexes
 * it). A first upload that finishes during a backup, once the collections have been listed, has a record in the dump
 * and none of its chunks: `media.chunks` was not listed, so the record was not taken for a GridFS file and was kept.
 */
describe('a backup taken while the first upload of a new install finishes', () => {
  let running: RunningApp;
  let backups: BackupService;
  let db: mongo.Db;
  const dir = join(tmpdir(), `vesta-backup-first-upload-${randomUUID()}`);

  beforeAll(async () => {
    // A database of its own: no upload has ever been made to it.
    const uri = workerMongoUri(`_first_upload_${randomUUID().slice(0, 8)}`);
    running = await startApp(testConfig({ BACKUP_DIR: dir, MONGODB_URI: uri }));
    backups = running.app.get(BackupService);
    db = running.app.get<Connection>(getConnectionToken()).db!;
  });

  afterAll(async () => {
    await db.dropDatabase();
    await running.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves the upload out of the backup, rather than keeping its record without its chunks', async () => {
    const names = async () => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    // Its index is built in the background at start.
    await expect.poll(names, { timeout: 10_000 }).toContain('media.files');
    expect(await names()).not.toContain('media.chunks');
    const member = await registerAccount(running.url);
    let uploaded: string | undefined;
    // The collections are listed before the first file of the dump is created: the upload finishes in between.
    const run = await backupCalling(backups, async () => {
      uploaded ??= (await uploadMedia(running.url, member, pngStructure(300_000))).id;
    });
    expect(run).toMatchObject({ status: 'succeeded', verify: { status: 'passed' } });
    expect(uploaded).toBeDefined();

    const manifest = JSON.parse(await readFile(join(dir, run._id, 'manifest.json'), 'utf8')) as BackupManifest;
    const files = manifest.collections.find((collection) => collection.name === 'media.files');
    expect(files).toMatchObject({ documents: 0, omitted: 1 });

    await backups.restore(run._id, db.databaseName, { drop: true });
    expect(await db.collection('media.files').countDocuments({})).toBe(0);
    const response = await fetch(`${running.url}/v1/media/${uploaded}`);
    await response.body?.cancel();
    expect(response.status).toBe(404);
  });
});
