import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection, mongo } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../src/backup/backup-manifest.js';
import type { BackupStorage } from '../../src/backup/backup-storage.js';
import { BackupService } from '../../src/backup/backup.service.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { pngStructure } from '../factories/images.js';
import { withStorage } from '../support/storage-swap.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const BOUNDARY = 'vesta-backup-during-uploads';
const CHUNK = 255 * 1024; // GridFS's default chunk size

/** The multipart body of an upload in the field "file", around its bytes. */
const MULTIPART_HEAD = Buffer.from(
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n` +
    'Content-Type: image/png\r\n\r\n',
);
const MULTIPART_TAIL = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);

describe('a backup taken while uploads finish', () => {
  let running: RunningApp;
  let url: string;
  let backups: BackupService;
  let db: mongo.Db;
  let dir: string;

  beforeAll(async () => {
    dir = join(tmpdir(), `vesta-backup-uploads-${randomUUID()}`);
    running = await startApp(testConfig({ BACKUP_DIR: dir }));
    url = running.url;
    backups = running.app.get(BackupService);
    db = running.app.get<Connection>(getConnectionToken()).db!;
    // An earlier test file in this worker's database may leave a write pending (an upload cut off); in CI one made the
    // wait for the held upload watch that record for ever. This one stands for it.
    await db.collection('media_pending_writes').insertOne({ bucket: 'media', since: new Date() });
  });

  afterAll(async () => {
    await running.close();
    await rm(dir, { recursive: true, force: true });
  });

  const upload = async (account: Account, bytes: Buffer): Promise<string> => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)]), 'p.png');
    const response = await fetch(`${url}/v1/media`, { method: 'POST', headers: account.auth, body: form });
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: string }).id;
  };

  /**
   * An upload whose body the test sends in two parts: the first `firstPart` bytes now, the rest when `finish()` is
   * called, which resolves with the new file's id once the API has answered.
   */
  const heldUpload = (account: Account, bytes: Buffer, firstPart: number) => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
    controller.enqueue(new Uint8Array(Buffer.concat([MULTIPART_HEAD, bytes.subarray(0, firstPart)])));
    const answer = fetch(`${url}/v1/media`, {
      method: 'POST',
      headers: { ...account.auth, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    return {
      finish: async (): Promise<string> => {
        controller.enqueue(new Uint8Array(Buffer.concat([bytes.subarray(firstPart), MULTIPART_TAIL])));
        controller.close();
        const response = await answer;
        expect(response.status).toBe(201);
        return ((await response.json()) as { id: string }).id;
      },
    };
  };

  /** The writes in progress now (uploads, deletes), whatever earlier test files in this worker's database left. */
  const pendingWrites = (): Promise<mongo.ObjectId[]> => db.collection('media_pending_writes').distinct('_id');

  /**
   * Waits until an upload started after `before` was read has written `count` chunks (the cleanup's pending record
   * names it). Bounded, naming what it saw, so that a stuck upload fails here rather than at the test's timeout.
   */
  const chunksWritten = async (count: number, before: mongo.ObjectId[]) => {
    const deadline = Date.now() + 20_000;
    let seen = 'no pending write';
    while (Date.now() < deadline) {
      const pending = await db.collection('media_pending_writes').findOne({ bucket: 'media', _id: { $nin: before } });
      if (pending) {
        const chunks = await db.collection('media.chunks').countDocuments({ files_id: pending._id });
        if (chunks >= count) return;
        seen = `${chunks} chunks of ${pending._id.toString()}`;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`The held upload did not write ${count} chunks within 20 s (${seen})`);
  };

  it('restores no file record without its chunks: each media id answers 200 with its bytes, or 404', async () => {
    const member = await registerAccount(url);
    const uploaded = new Map<string, Buffer>();
    const before = pngStructure(3 * CHUNK);
    const uploadedBefore = await upload(member, before);
    uploaded.set(uploadedBefore, before);

    // Two of its four chunks are in the database when the backup starts; the rest come after the chunks are dumped.
    const straddling = pngStructure(4 * CHUNK - 100);
    const writesBefore = await pendingWrites();
    const held = heldUpload(member, straddling, 2 * CHUNK + 1000);
    await chunksWritten(2, writesBefore);

    // Between the dump of media.chunks and that of media.files (the draft's file for the latter is created first),
    // the held upload completes and another one is made whole: both records are there when media.files is read.
    const filesDump = `${db.databaseName}/media.files.bson.gz`;
    const between = pngStructure(2 * CHUNK + 7);
    const finishedDuringBackup: string[] = [];
    const intercepted = (real: BackupStorage) => ({
      begin: async (id: string) => {
        const draft = await real.begin(id);
        return {
          ...draft,
          create: async (path: string) => {
            if (path === filesDump) {
              const heldId = await held.finish();
              uploaded.set(heldId, straddling);
              const betweenId = await upload(member, between);
              uploaded.set(betweenId, between);
              finishedDuringBackup.push(heldId, betweenId);
            }
            return draft.create(path);
          },
        };
      },
    });

    // Uploads from other members go on throughout the backup, finishing wherever they happen to.
    let backupDone = false;
    const uploader = async () => {
      const account = await registerAccount(url);
      for (let i = 0; !backupDone && i < 50; i++) {
        const bytes = pngStructure(CHUNK + 1 + i * 1000);
        uploaded.set(await upload(account, bytes), bytes);
      }
    };
    const uploaders = [uploader(), uploader()];

    let run;
    try {
      run = await withStorage(backups, intercepted, () => backups.run('cli'));
    } finally {
      backupDone = true;
      await Promise.all(uploaders);
    }
    expect(run.status).toBe('succeeded');
    expect(run.verify?.status).toBe('passed');
    expect(finishedDuringBackup).toHaveLength(2);

    await backups.restore(run._id, db.databaseName, { drop: true });
    const answers = new Map<string, number>();
    const wrong: string[] = [];
    for (const [id, bytes] of uploaded) {
      const response = await fetch(`${url}/v1/media/${id}`);
      answers.set(id, response.status);
      if (response.status === 200) {
        const body = await response.arrayBuffer().catch((error: unknown) => error as Error);
        if (body instanceof Error) wrong.push(`${id}: 200, then the body failed (${body.message})`);
        else if (!Buffer.from(body).equals(bytes)) wrong.push(`${id}: 200 with other bytes`);
      } else {
        await response.body?.cancel();
        if (response.status !== 404) wrong.push(`${id}: ${response.status}`);
      }
    }
    expect(wrong).toEqual([]);
    // Uploaded before the backup: restored whole. Completed after media.chunks was read: not restored at all.
    expect(answers.get(uploadedBefore)).toBe(200);
    expect(finishedDuringBackup.map((id) => answers.get(id))).toEqual([404, 404]);
    const manifest = JSON.parse(await readFile(join(dir, run._id, 'manifest.json'), 'utf8')) as BackupManifest;
    const files = manifest.collections.find((collection) => collection.name === 'media.files');
    expect(files?.omitted).toBeGreaterThanOrEqual(2);
  });
});
