import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaCleanup } from '../../src/media/media-cleanup.js';
import { MediaStorage } from '../../src/media/media.storage.js';
import { registerAccount } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { FerretDbProcess } from '../support/ferretdb-process.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

/** An upload that failed after its bytes were in (MongoDB, the client): nobody learns of a file that stays. */
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

    expect(await filesLeftAfterCleanup(member.userId)).toBe(0);
  });

  it('leaves no file behind once the cleanup has run, when the client left and MongoDB fails the removal', async () => {
    const member = await registerAccount(running.url);
    const storage = running.app.get(MediaStorage);
    const { find, remove } = { find: storage.find.bind(storage), remove: storage.remove.bind(storage) };
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(pngStructure(100))], { type: 'image/png' }), 'photo.png');
    const multipart = new Request(running.url, { method: 'POST', body: form });
    const body = Buffer.from(await multipart.arrayBuffer());
    const server = running.app.getHttpServer() as { once(event: 'connection', listener: (s: Socket) => void): void };
    let serverSide: Socket | undefined;
    server.once('connection', (socket) => (serverSide = socket));
    const upload = httpRequest(`${running.url}/v1/media`, {
      method: 'POST',
      agent: false,
      headers: {
        ...member.auth,
        'content-type': multipart.headers.get('content-type') ?? '',
        'content-length': body.length,
      },
    });
    upload.on('error', () => undefined);
    // The file is stored and read back for the answer when its client goes; MongoDB then fails the removal of the file
    // nobody will learn of.
    const clientGone = new Promise<void>((resolve) => {
      storage.find = async (id) => {
        storage.find = find;
        const file = await find(id);
        upload.destroy();
        if (serverSide && !serverSide.destroyed) await once(serverSide, 'close');
        resolve();
        return file;
      };
    });
    let removal: Promise<void> | undefined;
    storage.remove = (id) => {
      storage.remove = remove;
      removal = ferret.kill().then(() => remove(id));
      return removal;
    };
    try {
      upload.end(body);
      await clientGone;
      await expect.poll(() => removal !== undefined, { timeout: 10_000 }).toBe(true);
      await expect(removal).rejects.toThrow();
    } finally {
      storage.find = find;
      storage.remove = remove;
      await ferret.start();
    }
    expect(await filesLeftAfterCleanup(member.userId)).toBe(0);
  });

  /** The member's files once MongoDB answers again and the hourly cleanup has taken every pending write for abandoned. */
  async function filesLeftAfterCleanup(ownerId: string): Promise<number> {
    const files = running.app.get<Connection>(getConnectionToken()).collection('media.files');
    const ownedFiles = () => files.countDocuments({ 'metadata.ownerId': ownerId });
    await expect.poll(() => ownedFiles().catch(() => -1), { timeout: 10_000, interval: 250 }).toBeGreaterThanOrEqual(0);
    await running.app.get(MediaCleanup).run(new Date(Date.now() + 2 * 3600_000));
    return ownedFiles();
  }
});
