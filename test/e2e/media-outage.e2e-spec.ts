import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaCleanup } from '../../src/media/media-cleanup.js';
import { MediaStorage } from '../../src/media/media.storage.js';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { FerretDbProcess } from '../support/ferretdb-process.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/** An upload refused because MongoDB failed after its bytes were in: the client never learns of a file that stays. */
describe('an upload during a MongoDB outage', () => {
  let ferret: FerretDbProcess;
  let running: RunningApp;

  beforeAll(async () => {
    ferret = await FerretDbProcess.start();
    running = await startApp(
      testConfig({ MONGODB_URI: ferret.uri, MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1000', HANDLER_TIMEOUT_MS: '3000' }),
    );
  });

  afterAll(async () => {
    await running?.close();
    await ferret?.dispose();
  });

  it('leaves no file behind once the cleanup has run, when MongoDB fails as the stored upload is read back', async () => {
    const member = await registerAccount(running.url);
    const storage = running.app.get(MediaStorage);
    const find = storage.find.bind(storage);
    // MongoDB goes away once the file, its hash and all, is stored, as the upload reads it back for its answer.
    storage.find = async (id) => {
      storage.find = find;
      await ferret.kill();
      return find(id);
    };
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(pngStructure(100))], { type: 'image/png' }), 'photo.png');
    let status: number;
    try {
      const response = await fetch(`${running.url}/v1/media`, { method: 'POST', headers: member.auth, body: form });
      status = response.status;
      await response.arrayBuffer();
    } finally {
      storage.find = find;
      await ferret.start();
    }
    expect(status).toBe(503);

    const files = running.app.get<Connection>(getConnectionToken()).collection('media.files');
    const ownedFiles = () => files.countDocuments({ 'metadata.ownerId': member.userId });
    await expect.poll(() => ownedFiles().catch(() => -1), { timeout: 10_000, interval: 250 }).toBeGreaterThanOrEqual(0);
    // What the hourly cleanup finds once the write is old enough to be taken for abandoned.
    await running.app.get(MediaCleanup).run(new Date(Date.now() + 2 * 3600_000));
    expect(await ownedFiles()).toBe(0);
  });
});
