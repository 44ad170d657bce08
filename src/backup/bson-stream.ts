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
  private pending: Buffer = Buffer.alloc(0);

  constructor() {
    super({ readableObjectMode: true });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 4) {
      const size = this.pending.readInt32LE(0);
      if (size < MIN_DOCUMENT || size > MAX_DOCUMENT) {
        done(new CorruptBsonError(`a document declares an impossible length (${size} bytes)`));
        return;
      }
      if (this.pending.length < size) break;
      if (this.pending[size - 1] !== 0) {
        done(new CorruptBsonError('a document does not end with a zero byte'));
        return;
      }
      this.push(this.pending.subarray(0, size));
      this.pending = this.pending.subarray(size);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    done(this.pending.length ? new CorruptBsonError(`the file ends inside a document`) : undefined);
  }
}
