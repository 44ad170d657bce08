import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { mongo } from 'mongoose';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { BackupManifest } from './backup-manifest.js';
import type { BackupStorage } from './backup-storage.js';
import { BackupIntegrityError, restoreDump, verifyFiles } from './dump-restorer.js';

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

  it('calls a file of the size the manifest says, but not its bytes, damaged, naming it', async () => {
    // Valid gzip of the right length: only the SHA-256 tells it from the file that was backed up.
    const bytes = gzipSync('{"options":{}}');
    const sized: BackupManifest = {
      ...manifest,
      collections: [{ ...manifest.collections[0], metadata: { ...file, bytes: bytes.length } }],
    };
    const attempt = verifyFiles(
      storageOpening(() => Readable.from([bytes])),
      sized,
      new AbortController().signal,
    );
    await expect(attempt).rejects.toThrow(BackupIntegrityError);
    await expect(attempt).rejects.toThrow(/profiles\.metadata\.json\.gz does not match its SHA-256 in the manifest/);
  });
});

describe('verifyFiles of a metadata file that unpacks to more than a dump writes', () => {
  const LIMIT = 16 * 1024 * 1024;
  it('stops unpacking it at the limit and calls it damaged, before its size and SHA-256 are known', async () => {
    // About 100 KiB of gzip that unpacks to twice the limit; a few megabytes unpack to gigabytes the same way.
    const bomb = gzipSync(Buffer.alloc(2 * LIMIT, 0x20), { level: 9 });
    const attempt = verifyFiles(
      storageOpening(() => Readable.from([bomb])),
      manifest,
      new AbortController().signal,
    );
    await expect(attempt).rejects.toThrow(BackupIntegrityError);
    await expect(attempt).rejects.toThrow(`profiles.metadata.json.gz is larger than ${LIMIT} bytes`);
  });
});

describe('restoreDump', () => {
  const users = [
    { _id: 1, email: 'a@example.test' },
    { _id: 2, email: 'b@example.test' },
  ];
  const metadata = {
    options: {},
    indexes: [
      { v: 2, key: { _id: 1 }, name: '_id_' },
      { v: 2, key: { email: 1 }, name: 'email_1', unique: true },
    ],
  };
  const backup: BackupManifest = {
    ...manifest,
    collections: [
      {
        name: 'users',
        documents: users.length,
        metadata: { ...file, path: 'vesta/users.metadata.json.gz' },
        data: { ...file, path: 'vesta/users.bson.gz' },
      },
    ],
  };
  const files: Record<string, Buffer> = {
    'vesta/users.metadata.json.gz': gzipSync(mongo.BSON.EJSON.stringify(metadata, { relaxed: false })),
    'vesta/users.bson.gz': gzipSync(Buffer.concat(users.map((user) => mongo.BSON.serialize(user)))),
  };

  /** An empty database that records what it is asked, in order. */
  const recordingDb = () => {
    const calls: string[] = [];
    const collection = {
      createIndex: (key: object) => calls.push(`createIndex ${JSON.stringify(key)}`),
      insertMany: (documents: unknown[]) => {
        calls.push(`insertMany ${documents.length}`);
        return Promise.resolve({ insertedCount: documents.length });
      },
      countDocuments: () => calls.push('countDocuments'),
    };
    const db = {
      listCollections: () => ({ toArray: () => Promise.resolve([]) }),
      createCollection: (name: string) => {
        calls.push(`createCollection ${name}`);
        return Promise.resolve(collection);
      },
    } as unknown as mongo.Db;
    return { db, calls };
  };

  it('builds the indexes on the empty collection and reads no collection whole, whose time grows with its size', async () => {
    const { db, calls } = recordingDb();
    const storage = { open: (_id: string, path: string) => Readable.from([files[path]]) } as unknown as BackupStorage;
    const restored = await restoreDump(db, storage, backup, { drop: false }, new AbortController().signal);
    expect(restored).toEqual({ users: 2 });
    // Built after the inserts, an index was one command as long as the collection is large, and so was the count:
    // past the socket timeout, a large restore failed on them.
    expect(calls.slice(-3)).toEqual(['createCollection users', 'createIndex {"email":1}', 'insertMany 2']);
  });

  it('rejects, rather than crashing the process, when a metadata file cannot be read', async () => {
    const { db } = recordingDb();
    const unreadable = {
      open: () =>
        new Readable({
          read() {
            this.destroy(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
          },
        }),
    } as unknown as BackupStorage;
    await expect(restoreDump(db, unreadable, backup, { drop: false }, new AbortController().signal)).rejects.toThrow(
      'EIO',
    );
  });
});

describe('a backup file whose framing and SHA-256 check out but one of whose documents does not decode', () => {
  // A string that is not UTF-8: the server stores strings as it is sent them, the dump copies the bytes as it reads
  // them, and the manifest hashes what was written; only decoding the document finds it.
  const good = mongo.BSON.serialize({ _id: 1, name: 'hello' });
  const bad = Buffer.from(mongo.BSON.serialize({ _id: 2, name: 'hello' }));
  bad[bad.indexOf('hello')] = 0xff;
  const stored = {
    'vesta/users.metadata.json.gz': gzipSync(mongo.BSON.EJSON.stringify({ options: {}, indexes: [] })),
    'vesta/users.bson.gz': gzipSync(Buffer.concat([good, bad])),
  };
  const describedAs = (path: keyof typeof stored) => ({
    path,
    bytes: stored[path].length,
    sha256: createHash('sha256').update(stored[path]).digest('hex'),
  });
  const backup: BackupManifest = {
    ...manifest,
    collections: [
      {
        name: 'users',
        documents: 2,
        metadata: describedAs('vesta/users.metadata.json.gz'),
        data: describedAs('vesta/users.bson.gz'),
      },
    ],
  };
  const storage = { open: (_id: string, path: keyof typeof stored) => Readable.from([stored[path]]) };

  it('is called damaged by the checks, before a restore drops anything', async () => {
    const attempt = verifyFiles(storage as unknown as BackupStorage, backup, new AbortController().signal);
    await expect(attempt).rejects.toThrow(BackupIntegrityError);
    await expect(attempt).rejects.toThrow(/users\.bson\.gz holds a document that cannot be read \(document 2: /);
  });

  it(
    'fails a restore with an error naming the file, rather than crashing the process',
    { timeout: 5_000 },
    async () => {
      const collection = { insertMany: (docs: unknown[]) => Promise.resolve({ insertedCount: docs.length }) };
      const db = {
        listCollections: () => ({ toArray: () => Promise.resolve([]) }),
        createCollection: () => Promise.resolve(collection),
      } as unknown as mongo.Db;
      const attempt = restoreDump(
        db,
        storage as unknown as BackupStorage,
        backup,
        { drop: false },
        new AbortController().signal,
      );
      await expect(attempt).rejects.toThrow(BackupIntegrityError);
      await expect(attempt).rejects.toThrow(
        new RegExp(`^Backup ${backup.id} is damaged: vesta/users\\.bson\\.gz holds a document that cannot be read`),
      );
    },
  );
});
