import type { FastifyRequest } from 'fastify';
import { PayloadTooLargeException } from '@nestjs/common';
import { PassThrough, Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { readImageUpload } from './image-upload.js';

const PNG_HEAD = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const MiB = 1024 * 1024;

/** The multipart file stream as @fastify/multipart hands it over: a Readable with `truncated` and a 'limit' event. */
class FileStream extends PassThrough {
  truncated = false;
}

function multipartRequest(file: FileStream): FastifyRequest {
  const part = { type: 'file', fieldname: 'file', file, fields: {} };
  const parts = { next: () => Promise.resolve({ done: false, value: part }) };
  return { isMultipart: () => true, raw: { destroyed: false }, headers: {}, parts: () => parts } as never;
}

describe('readImageUpload memory', () => {
  it('does not hold the chunks it has already handed on (decision 0023: nothing holds the whole file)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const file = new FileStream();
    Readable.from(
      (function* () {
        yield PNG_HEAD;
        for (let i = 0; i < 1024; i += 1) yield Buffer.alloc(64 * 1024, 7); // 64 MiB, in fresh 64 KiB chunks
      })(),
    ).pipe(file);
    const upload = await readImageUpload(multipartRequest(file), 100 * MiB, () => new PayloadTooLargeException('x'));
    let read = 0;
    for await (const chunk of upload.bytes) read += chunk.length;
    expect(read).toBeGreaterThan(64 * MiB);
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    // The upload is still in progress for the controller (keep(), the quota check): its chunks went to GridFS already.
    const held = process.memoryUsage().arrayBuffers;
    expect(upload.truncated()).toBe(false);
    expect(held / MiB).toBeLessThan(16);
  });
});
