import { mongo } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { dumpOrder, GridFsCompleteness } from './gridfs-completeness.js';

const { ObjectId, serialize } = mongo.BSON;

const chunk = (fileId: unknown, n: number) => Buffer.from(serialize({ _id: new ObjectId(), files_id: fileId, n }));
/** A file record as an accepted upload has it: its hash is written once all its bytes are in. */
const file = (id: unknown, length: number, chunkSize = 4) =>
  Buffer.from(serialize({ _id: id, length, chunkSize, metadata: { sha256: 'ab'.repeat(32) } }));

describe('GridFsCompleteness', () => {
  it('keeps a file record only when the dump holds all its chunks', () => {
    const [whole, partial, none, empty] = [new ObjectId(), new ObjectId(), new ObjectId(), new ObjectId()];
    const gridFs = new GridFsCompleteness(['media.chunks', 'media.files', 'profiles']);
    const chunks = gridFs.filter('media.chunks')!;
    // 10 bytes in chunks of 4: three chunks.
    for (const document of [chunk(whole, 0), chunk(whole, 1), chunk(whole, 2), chunk(partial, 0), chunk(partial, 1)])
      expect(chunks(document)).toBe(true);
    const files = gridFs.filter('media.files')!;
    expect(files(file(whole, 10))).toBe(true);
    expect(files(file(partial, 10))).toBe(false);
    expect(files(file(none, 10))).toBe(false);
    expect(files(file(empty, 0))).toBe(true);
  });

  it('tells ids of other types apart, and keeps a record that does not say its length', () => {
    const gridFs = new GridFsCompleteness(['b.chunks', 'b.files']);
    const chunks = gridFs.filter('b.chunks')!;
    chunks(chunk('a-name', 0));
    const files = gridFs.filter('b.files')!;
    expect(files(file('a-name', 3))).toBe(true);
    expect(files(file(1, 3))).toBe(false);
    expect(files(Buffer.from(serialize({ _id: new ObjectId(), metadata: { sha256: 'ab'.repeat(32) } })))).toBe(true);
  });

  it('leaves out a record without its hash, whose upload was still under way, though all its chunks are in', () => {
    const [accepted, underWay] = [new ObjectId(), new ObjectId()];
    const gridFs = new GridFsCompleteness(['media.chunks', 'media.files']);
    const chunks = gridFs.filter('media.chunks')!;
    for (const id of [accepted, underWay]) chunks(chunk(id, 0));
    const files = gridFs.filter('media.files')!;
    expect(files(file(accepted, 3))).toBe(true);
    const hashless = { _id: underWay, length: 3, chunkSize: 4, metadata: { ownerId: 'u1', contentType: 'image/png' } };
    expect(files(Buffer.from(serialize(hashless)))).toBe(false);
  });

  it('leaves out the pending-write record of a file dumped whole with its hash, and keeps the others', () => {
    const [stored, underWay, variant] = [new ObjectId(), new ObjectId(), new ObjectId()];
    const names = dumpOrder([
      'media_variants.files',
      'media.chunks',
      'media_pending_writes',
      'media.files',
      'media_variants.chunks',
    ]);
    expect(names).toEqual([
      'media.chunks',
      'media.files',
      'media_variants.chunks',
      'media_variants.files',
      'media_pending_writes',
    ]);
    const gridFs = new GridFsCompleteness(names);
    const chunks = gridFs.filter('media.chunks')!;
    for (const id of [stored, underWay]) chunks(chunk(id, 0));
    const files = gridFs.filter('media.files')!;
    expect(files(file(stored, 3))).toBe(true);
    expect(files(Buffer.from(serialize({ _id: underWay, length: 3, chunkSize: 4, metadata: {} })))).toBe(false);
    gridFs.filter('media_variants.chunks')!(chunk(variant, 0));
    expect(gridFs.filter('media_variants.files')!(file(variant, 3))).toBe(true);
    const pending = gridFs.filter('media_pending_writes')!;
    const record = (id: unknown, bucket: string) => Buffer.from(serialize({ _id: id, bucket, since: new Date() }));
    expect(pending(record(stored, 'media'))).toBe(false);
    expect(pending(record(underWay, 'media'))).toBe(true);
    // A variant dumped whole with its hash: its pending record goes too (it is kept under the other bucket's name).
    expect(pending(record(variant, 'media_variants'))).toBe(false);
    expect(pending(record(stored, 'media_variants'))).toBe(true);
  });

  it('leaves collections outside a bucket alone, and refuses records dumped before their chunks', () => {
    const gridFs = new GridFsCompleteness(['media.chunks', 'media.files', 'lone.files', 'profiles']);
    expect(gridFs.filter('profiles')).toBeUndefined();
    expect(gridFs.filter('lone.files')).toBeUndefined();
    expect(() => gridFs.filter('media.files')).toThrow(/before media\.chunks/);
  });
});
