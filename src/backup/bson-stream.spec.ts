import { mongo } from 'mongoose';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it, vi } from 'vitest';
import { BsonDocumentSplitter, CorruptBsonError } from './bson-stream.js';

const { serialize } = mongo.BSON;

/** The documents `bytes` splits into, fed `chunkSize` bytes at a time. */
async function split(bytes: Buffer, chunkSize: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize));
  const documents: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    new BsonDocumentSplitter(),
    new Writable({
      objectMode: true,
      write(document: Buffer, _encoding, done) {
        documents.push(document);
        done();
      },
    }),
  );
  return documents;
}

describe('BsonDocumentSplitter', () => {
  const small = [serialize({ _id: 1, a: 'x' }), serialize({ _id: 2, b: [1, 2, 3] }), serialize({ _id: 3 })];

  it('splits documents however the bytes are cut into chunks', async () => {
    const bytes = Buffer.concat(small);
    for (const chunkSize of [1, 2, 3, 5, 7, bytes.length]) {
      expect(await split(bytes, chunkSize), `chunks of ${chunkSize}`).toEqual(small);
    }
  });

  it.each([
    ['a truncated file', Buffer.concat(small).subarray(0, -3), /the file ends inside a document/],
    ['an impossible length', Buffer.from([0xff, 0xff, 0xff, 0x7f, 0]), /impossible length \(2147483647 bytes\)/],
    ['a document without its zero byte', Buffer.from([5, 0, 0, 0, 1]), /does not end with a zero byte/],
  ])('refuses %s', async (_case, bytes, reason) => {
    const attempt = split(bytes, 2);
    await expect(attempt).rejects.toThrow(CorruptBsonError);
    await expect(attempt).rejects.toThrow(reason);
  });

  it('copies a 16 MiB document arriving in small chunks once, not once a chunk', { timeout: 60_000 }, async () => {
    // GridFS chunks are 255 KiB, but a collection may hold documents up to 16 MiB (and a damaged length prefix may
    // announce one). Joined at each of gunzip's 16 KiB chunks, its bytes were copied a thousand times: 8 GiB of copies
    // and about two seconds of CPU per document, a restore of many such documents taking hours.
    const large = serialize({ _id: 1, payload: Buffer.alloc(16 * 1024 * 1024 - 64, 1) });
    const bytes = Buffer.concat([large, small[0]]);
    let copied = 0;
    const concat = Buffer.concat.bind(Buffer);
    const spy = vi.spyOn(Buffer, 'concat').mockImplementation((list, length) => {
      const joined = concat(list, length);
      copied += joined.length;
      return joined;
    });
    try {
      const documents = await split(bytes, 16 * 1024);
      expect(documents.map((document) => document.length)).toEqual([large.length, small[0].length]);
    } finally {
      spy.mockRestore();
    }
    expect(copied).toBeLessThan(2 * bytes.length);
  });
});
