import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { BackupManifest } from './backup-manifest.js';
import type { BackupStorage } from './backup-storage.js';
import { BackupIntegrityError, verifyFiles } from './dump-restorer.js';

const file = { path: 'vesta/profiles.metadata.json.gz', bytes: 100, sha256: '0'.repeat(64) };
const manifest: BackupManifest = {
  id: '20261204T030000Z-3fa1',
  database: 'vesta',
  appVersion: '0.1.0',
  startedAt: 'x',
  finishedAt: 'y',
  collections: [{ name: 'profiles', documents: 1, metadata: file, data: { ...file, path: 'vesta/profiles.bson.gz' } }],
};

/** A storage whose every file is `open()`'s stream. */
const storageOpening = (open: () => Readable) => ({ open }) as unknown as BackupStorage;

describe('verifyFiles', () => {
  it('stops reading a file that stalls when its signal aborts, and does not call the backup damaged', async () => {
    // The first bytes of a gzip stream, then nothing: a disk or network volume that stopped answering.
    const stalled = new PassThrough();
    stalled.write(gzipSync('{"options":{}}').subarray(0, 10));
    const stop = new AbortController();
    const checking = verifyFiles(
      storageOpening(() => stalled),
      manifest,
      stop.signal,
    );
    setTimeout(() => stop.abort(new Error('interrupted: the process shut down')), 20);
    const error = await checking.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).not.toBeInstanceOf(BackupIntegrityError);
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(stalled.destroyed).toBe(true);
  });

  it('calls a file that does not match the manifest damaged, naming it', async () => {
    const attempt = verifyFiles(
      storageOpening(() => Readable.from([gzipSync('{"options":{}}')])),
      manifest,
      new AbortController().signal,
    );
    await expect(attempt).rejects.toThrow(BackupIntegrityError);
    await expect(attempt).rejects.toThrow(/profiles\.metadata\.json\.gz is \d+ bytes, the manifest says 100/);
  });
});
