import multipart, { type Multipart } from '@fastify/multipart';
import { HttpException, PayloadTooLargeException } from '@nestjs/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readImageUpload } from './image-upload.js';

/** A PNG's signature and 1×1 header chunk, then `size` bytes: enough for the type check, which is all this reads. */
const pngStructure = (size: number) =>
  Buffer.concat([
    Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex'),
    Buffer.alloc(size, 7),
  ]);
/** A PNG header declaring `width` × `height` pixels, then a few bytes: all an upload reads to size it. */
const pngDeclaring = (width: number, height: number) => {
  const header = Buffer.from('89504e470d0a1a0a0000000d49484452000000000000000008060000001f15c489', 'hex');
  header.writeUInt32BE(width, 16);
  header.writeUInt32BE(height, 20);
  return Buffer.concat([header, Buffer.alloc(100, 7)]);
};
/** A JPEG with `segments` APP1 segments of 64 KiB first, then a frame header declaring `width` × `height`. */
const jpegAfterMetadata = (segments: number, width: number, height: number) => {
  const app1 = Buffer.concat([Buffer.from('ffe1ffff', 'hex'), Buffer.alloc(0xffff - 2)]);
  const frame = Buffer.from('ffc0001108000000000301220002110103110100', 'hex');
  frame.writeUInt16BE(height, 5);
  frame.writeUInt16BE(width, 7);
  return Buffer.concat([
    Buffer.from('ffd8', 'hex'),
    ...Array.from({ length: segments }, () => app1),
    frame,
    Buffer.alloc(100),
  ]);
};
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const BOUNDARY = 'b';
const part = (headers: string, content: Buffer | string) =>
  Buffer.concat([Buffer.from(`--${BOUNDARY}\r\n${headers}\r\n\r\n`), Buffer.from(content), Buffer.from('\r\n')]);
const filePart = (bytes: Buffer, name = 'file') =>
  part(`Content-Disposition: form-data; name="${name}"; filename="a.png"\r\nContent-Type: image/png`, bytes);
const fieldPart = (name: string, value: string, contentType = 'text/plain') =>
  part(`Content-Disposition: form-data; name="${name}"\r\nContent-Type: ${contentType}`, value);
const END = Buffer.from(`--${BOUNDARY}--\r\n`);

/**
 * Fastify with @fastify/multipart, whose one route reads an upload as the media controller does, after `delayMs` (the
 * quota lookup), then reads all of the file and the rest of the body. Each outcome is recorded: a status, or 'stored'.
 */
async function uploadServer(maxBytes: number, delayMs = 0) {
  const outcomes: (number | 'stored')[] = [];
  /** Per stored upload: the characters of the ignored fields the parser held. */
  const fieldsHeld: number[] = [];
  const fastify = Fastify();
  await fastify.register(multipart);
  fastify.post('/upload', async (request, reply) => {
    // Every part carries the parser's record of the fields read so far, which it keeps until the request ends.
    let held: Record<string, Multipart | Multipart[] | undefined> = {};
    const parts = request.parts.bind(request);
    request.parts = (options) => {
      const iterator = parts(options);
      const next = iterator.next.bind(iterator);
      iterator.next = async () => {
        const result = await next();
        if (!result.done) held = result.value.fields;
        return result;
      };
      return iterator;
    };
    try {
      await pause(delayMs);
      const upload = await readImageUpload(request, maxBytes, () => new PayloadTooLargeException('too large'));
      for await (const _chunk of upload.bytes);
      if (upload.truncated()) throw new PayloadTooLargeException('too large');
      await upload.rest();
      outcomes.push('stored');
      const fields = Object.values(held).flat() as Multipart[];
      fieldsHeld.push(
        fields.reduce((sum, field) => sum + (field.type === 'field' ? String(field.value).length : 0), 0),
      );
      return { stored: true };
    } catch (error) {
      const status = error instanceof HttpException ? error.getStatus() : 500;
      outcomes.push(status);
      return reply.status(status).send({ status });
    }
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  return { fastify, outcomes, fieldsHeld };
}

async function post(fastify: FastifyInstance, body: Buffer) {
  const response = await fetch(`${fastify.listeningOrigin}/upload`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body: new Uint8Array(body),
  });
  return response.status;
}

describe('readImageUpload', () => {
  let fastify: FastifyInstance | undefined;
  afterEach(async () => {
    await fastify?.close();
    fastify = undefined;
  });
  const png = pngStructure(2_000);

  it('takes one image with fields around it, and refuses a second file', async () => {
    let outcomes;
    ({ fastify, outcomes } = await uploadServer(1_000_000));
    const withFields = Buffer.concat([fieldPart('a', '1'), filePart(png), fieldPart('b', '2'), END]);
    expect(await post(fastify, withFields)).toBe(200);
    expect(await post(fastify, Buffer.concat([filePart(png), filePart(png), END]))).toBe(400);
    expect(outcomes).toEqual(['stored', 400]);
  });

  it('holds at most 1 KiB of each ignored field, however long the client makes it', async () => {
    let fieldsHeld;
    ({ fastify, fieldsHeld } = await uploadServer(1_000_000));
    const long = 'x'.repeat(512 * 1024);
    const body = Buffer.concat([fieldPart('a', long), filePart(png), fieldPart('b', long), END]);
    expect(await post(fastify, body)).toBe(200);
    expect(fieldsHeld).toEqual([2 * 1024]);
  });

  it('answers 400, not the parser’s 406, for a field declared JSON that is not, before or after the file', async () => {
    ({ fastify } = await uploadServer(1_000_000));
    const badJson = fieldPart('meta', '{not json', 'application/json');
    expect(await post(fastify, Buffer.concat([badJson, filePart(png), END]))).toBe(400);
    expect(await post(fastify, Buffer.concat([filePart(png), badJson, END]))).toBe(400);
    expect(await post(fastify, Buffer.concat([filePart(png), fieldPart('constructor', 'x'), END]))).toBe(400);
  });

  it('refuses with 422 an image that declares more than 50 megapixels, however small the file', async () => {
    let outcomes;
    ({ fastify, outcomes } = await uploadServer(10_000_000));
    const upload = (file: Buffer) => post(fastify!, Buffer.concat([filePart(file), END]));
    expect(await upload(pngDeclaring(20_000, 20_000))).toBe(422);
    expect(await upload(pngDeclaring(7_072, 7_072))).toBe(422);
    expect(await upload(pngDeclaring(7_000, 7_000))).toBe(200);
    expect(outcomes).toEqual([422, 422, 'stored']);
  });

  it('looks for a JPEG’s dimensions past 64 KiB of metadata, up to 1 MiB, and refuses one that hides them further', async () => {
    ({ fastify } = await uploadServer(10_000_000));
    const upload = (file: Buffer) => post(fastify!, Buffer.concat([filePart(file), END]));
    expect(await upload(jpegAfterMetadata(4, 20_000, 20_000))).toBe(422);
    expect(await upload(jpegAfterMetadata(4, 3_000, 4_000))).toBe(200);
    expect(await upload(jpegAfterMetadata(17, 3_000, 4_000))).toBe(422);
  });

  it('answers "too large", not 415, when the limit cut the file off before its type could be read', async () => {
    ({ fastify } = await uploadServer(4));
    expect(await post(fastify, Buffer.concat([filePart(png), END]))).toBe(413);
  });

  it('gives up at once on a request whose client left before the upload was read, instead of waiting forever', async () => {
    let outcomes: (number | 'stored')[];
    ({ fastify, outcomes } = await uploadServer(1_000_000, 300));
    const socket = connect(Number(new URL(fastify.listeningOrigin).port), '127.0.0.1');
    const head = Buffer.concat([filePart(png)]).subarray(0, 500);
    socket.write(
      `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
        `Content-Length: 100000\r\n\r\n`,
    );
    socket.write(head);
    await pause(50);
    socket.destroy(); // while the handler still waits for its quota
    await expect.poll(() => outcomes, { timeout: 2_000 }).toEqual([400]);
  });

  it('answers "too large" once the limit is reached, not when the rest of the file has arrived', async () => {
    let outcomes: (number | 'stored')[];
    ({ fastify, outcomes } = await uploadServer(1_000));
    const socket = connect(Number(new URL(fastify.listeningOrigin).port), '127.0.0.1');
    socket.on('error', () => undefined); // closed by the server after its answer
    const file = pngStructure(5_000);
    const partHead = filePart(file).subarray(0, filePart(file).length - file.length - 2);
    socket.write(
      `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
        `Content-Length: 100000\r\n\r\n`,
    );
    // Exactly the limit in one piece (the reader then waits for more), then the rest slowly.
    socket.write(Buffer.concat([partHead, file.subarray(0, 1_000)]));
    const trickle = setInterval(() => socket.write(Buffer.alloc(10, 1)), 100);
    try {
      await expect.poll(() => outcomes, { timeout: 1_500 }).toEqual([413]);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});
