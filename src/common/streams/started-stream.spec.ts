import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { startedStream } from './started-stream.js';

/** A source whose first chunk comes when `release()` is called, as a database query's first batch would. */
function gatedSource(fail = false) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  async function* chunks(): AsyncGenerator<Buffer> {
    await gate;
    if (fail) throw new Error('chunk query failed');
    yield Buffer.from('first ');
    yield Buffer.from('second');
  }
  return { source: Readable.from(chunks(), { objectMode: false }), release };
}

describe('startedStream', () => {
  it('resolves once the first chunk is in, with a stream of every byte', async () => {
    const { source, release } = gatedSource();
    let resolved = false;
    const started = startedStream(source).then((stream) => {
      resolved = true;
      return stream;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(resolved).toBe(false);
    release();
    expect((await buffer(await started)).toString()).toBe('first second');
  });

  it('rejects when the source fails before its first chunk', async () => {
    const { source, release } = gatedSource(true);
    release();
    await expect(startedStream(source)).rejects.toThrow('chunk query failed');
  });

  it('closes the source when the stream is destroyed before anyone reads it', async () => {
    const { source, release } = gatedSource();
    release();
    const stream = await startedStream(source);
    stream.destroy();
    await expect.poll(() => source.destroyed).toBe(true);
  });
});
