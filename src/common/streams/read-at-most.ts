import type { Readable } from 'node:stream';

/**
 * The whole of `stream` as one Buffer, like `buffer()` of `node:stream/consumers`, but refused (the stream destroyed,
 * so whatever feeds it stops too) once it passes `limit` bytes: a file read whole must not take the process' memory
 * with it when it is not what it should be.
 */
export async function readAtMost(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  // Bytes: a stream given an encoding would yield strings, whose length is not their size.
  for await (const data of stream as AsyncIterable<Buffer>) {
    bytes += data.length;
    if (bytes > limit) {
      const error = new Error(`is larger than ${limit} bytes`);
      stream.destroy(error);
      throw error;
    }
    chunks.push(data);
  }
  return Buffer.concat(chunks);
}
