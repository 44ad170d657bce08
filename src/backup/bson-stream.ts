import { Transform, type TransformCallback } from 'node:stream';

/** A BSON document is at least 5 bytes; MongoDB allows 16 MiB, and dumps may carry a little more. */
const MIN_DOCUMENT = 5;
const MAX_DOCUMENT = 16 * 1024 * 1024 + 16 * 1024;

export class CorruptBsonError extends Error {}

/**
 * Splits a stream of concatenated BSON documents (the mongodump `.bson` format) into one Buffer per
 * document, holding at most one document plus one incoming chunk. Ends with an error when a length
 * prefix is impossible or the stream stops inside a document (a truncated file).
 */
export class BsonDocumentSplitter extends Transform {
  /** Bytes not yet split, kept as they came: joined only once they hold what `needed` says. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  /**
   * Bytes to wait for before looking again: a length prefix, then the whole document it announces. Joined at every
   * chunk instead, a document of 16 MiB arriving in gunzip's 16 KiB chunks was copied a thousand times (8 GiB of
   * copies, seconds of CPU, for each such document, or for a damaged length prefix announcing one).
   */
  private needed = 4;

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed) return done();
    let pending = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    this.needed = 4;
    while (pending.length >= 4) {
      const size = pending.readInt32LE(0);
      if (size < MIN_DOCUMENT || size > MAX_DOCUMENT) {
        done(new CorruptBsonError(`a document declares an impossible length (${size} bytes)`));
        return;
      }
      if (pending.length < size) {
        this.needed = size;
        break;
      }
      if (pending[size - 1] !== 0) {
        done(new CorruptBsonError('a document does not end with a zero byte'));
        return;
      }
      this.push(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
    this.chunks = pending.length ? [pending] : [];
    this.buffered = pending.length;
    done();
  }

  override _flush(done: TransformCallback): void {
    done(this.buffered ? new CorruptBsonError(`the file ends inside a document`) : undefined);
  }
}
