import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BackupStorage } from './backup-storage.js';
import { BackupIntegrityError } from './dump-restorer.js';
import { readManifest } from './read-manifest.js';

const ID = '20261124T030000Z-3fa1';
const file = (path: string) => ({ path, bytes: 10, sha256: 'ab'.repeat(32) });
const entry = { name: 'profiles', documents: 2, data: file('vesta/profiles.bson.gz'), metadata: file('m.json.gz') };
const good = {
  id: ID,
  database: 'vesta',
  appVersion: '0.1.0',
  startedAt: 'x',
  finishedAt: 'y',
  collections: [entry, { ...entry, name: 'media.files', omitted: 1 }],
};

/** A storage holding backup `ID`, whose manifest.json reads as `text` (or fails to open when undefined). */
const storageWith = (text: string | undefined): BackupStorage =>
  ({
    list: () => Promise.resolve([ID]),
    open: () =>
      text === undefined
        ? new Readable({
            read() {
              this.destroy(Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' }));
            },
          })
        : Readable.from([Buffer.from(text)]),
  }) as unknown as BackupStorage;

describe('readManifest', () => {
  it('reads a whole manifest', async () => {
    await expect(readManifest(storageWith(JSON.stringify(good)), ID)).resolves.toEqual(good);
  });

  it.each([
    ['missing', undefined, /manifest\.json ENOENT/],
    ['truncated', JSON.stringify(good).slice(0, 40), /manifest\.json is not valid JSON/],
    ['not a manifest', '{"formatVersion":99}', /manifest\.json is not a backup manifest \(id: /],
    ['null', 'null', /manifest\.json is not a backup manifest \(the whole file: /],
    [
      'hand-edited',
      JSON.stringify({ ...good, collections: [{}] }),
      /manifest\.json is not a backup manifest \(collections\.0\.name: /,
    ],
    [
      'hand-edited (a size)',
      JSON.stringify({ ...good, collections: [{ ...entry, data: { path: 'x', bytes: -1, sha256: 'ab' } }] }),
      /manifest\.json is not a backup manifest \(collections\.0\.data\.bytes: /,
    ],
    // Refused here, before a restore with --drop empties the target: each failed (or wrote over the lock) after it.
    [
      'hand-edited (a collection twice)',
      JSON.stringify({ ...good, collections: [entry, entry] }),
      /manifest\.json lists collection profiles twice/,
    ],
    [
      "hand-edited (the backups' lock)",
      JSON.stringify({ ...good, collections: [entry, { ...entry, name: 'backup_lock' }] }),
      /manifest\.json lists collection backup_lock, which no backup holds/,
    ],
    [
      'hand-edited (a system collection)',
      JSON.stringify({ ...good, collections: [{ ...entry, name: 'system.views' }] }),
      /manifest\.json lists collection system\.views, which no backup holds/,
    ],
    [
      'of another backup',
      JSON.stringify({ ...good, id: '20261125T030000Z-0b2c' }),
      /manifest\.json names backup 20261125T030000Z/,
    ],
  ])('calls a %s manifest.json damaged, naming the backup and the file', async (_case, text, reason) => {
    const attempt = readManifest(storageWith(text), ID);
    await expect(attempt).rejects.toThrow(BackupIntegrityError);
    await expect(attempt).rejects.toThrow(new RegExp(`^Backup ${ID} is damaged: ${reason.source}`));
  });
});

describe('readManifest of a manifest.json far larger than any backup writes', () => {
  const LIMIT = 16 * 1024 * 1024;
  it('stops reading it at the limit and calls it damaged, rather than taking all the memory there is', async () => {
    // 1 MiB at a time, twice the limit in all (a log or a dump file copied over it): read whole, it could be gigabytes.
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let served = 0;
    const storage = {
      list: () => Promise.resolve([ID]),
      open: () =>
        new Readable({
          read() {
            served += chunk.length;
            this.push(served > 2 * LIMIT ? null : chunk);
          },
        }),
    } as unknown as BackupStorage;
    const attempt = readManifest(storage, ID);
    await expect(attempt).rejects.toThrow(BackupIntegrityError);
    await expect(attempt).rejects.toThrow(`Backup ${ID} is damaged: manifest.json is larger than ${LIMIT} bytes`);
    expect(served).toBeLessThan(LIMIT + 4 * chunk.length);
  });
});
