import { Readable } from 'node:stream';

/**
 * Reads the first chunk of `source` now and returns a stream of all of it. Whatever the source waits on before its
 * first byte (a database query) is then waited for by the caller, within its request's deadline, rather than after
 * the stream has been handed to the response. Rejects if the source fails before its first chunk.
 */
export async function startedStream(source: Readable): Promise<Readable> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await chunks.next();
  async function* all(): AsyncGenerator<Buffer> {
    for (let next = first; !next.done; next = await chunks.next()) yield next.value;
  }
  const started = Readable.from(all(), { objectMode: false });
  // A stream destroyed before it was read never runs `all()`, so it could not close the source itself.
  started.once('close', () => source.destroy());
  return started;
}
