import { mongo } from 'mongoose';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BackupDraft } from './backup-storage.js';
import { writeDump } from './dump-writer.js';

const { serialize } = mongo.BSON;

describe('writeDump of a GridFS chunk that does not decode', () => {
  // A string that is not UTF-8 in a chunk's document: the server stores it as it was sent. The chunks are decoded to
  // count each file's: the dump fails naming the collection (until 2026-12-06 with the decoder's message alone).
  const chunk = Buffer.from(serialize({ _id: 1, files_id: 'hello', n: 0, data: Buffer.alloc(4) }));
  chunk[chunk.indexOf('hello')] = 0xff;
  const raw: Record<string, Buffer[]> = { 'media.chunks': [chunk], 'media.files': [] };
  const db = {
    databaseName: 'vesta',
    listCollections: () => ({
      toArray: () => Promise.resolve(Object.keys(raw).map((name) => ({ name, type: 'collection', options: {} }))),
    }),
    collection: (name: string) => ({
      // What the raw cursor yields: each document's bytes.
      find: () => raw[name],
      indexes: () => Promise.resolve([]),
    }),
  } as unknown as mongo.Db;
  const draft = {
    create: () =>
      Promise.resolve(
        new Writable({
          write(_chunk, _encoding, done) {
            done();
          },
        }),
      ),
  } as unknown as BackupDraft;

  it('fails the dump with the decoding error', { timeout: 5_000 }, async () => {
    await expect(writeDump(db, draft, new AbortController().signal)).rejects.toThrow(/media\.chunks.*Invalid UTF-8/);
  });
});
