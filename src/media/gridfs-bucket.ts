import { mongo, Types } from 'mongoose';
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What every stored file carries; `sha256` is set once all bytes are in, so a file without it is incomplete. */
export interface StoredFile {
  /** The bucket it lives in. */
  bucket: string;
  id: Types.ObjectId;
  length: number;
  uploadDate: Date;
  contentType: string;
  sha256: string;
}

export type FileDocument = mongo.GridFSFile;

/**
 * A write in progress: an upload until its last byte and SHA-256 are in, a delete until file and
 * chunks are gone. One that stays here past the cleanup age was cut short (a crash, a lost
 * connection), and the cleanup job finishes deleting it: this is how chunks without a file are found
 * without scanning the chunks.
 */
export interface PendingWrite {
  _id: Types.ObjectId;
  bucket: string;
  since: Date;
}
export const PENDING_WRITES = 'media_pending_writes';

/**
 * One GridFS bucket, used the same way on MongoDB and FerretDB: streaming upload with a SHA-256
 * computed on the way in, ranged download, delete of file and chunks.
 */
export class GridFsBucket {
  private readonly bucket: mongo.GridFSBucket;
  private readonly pending: mongo.Collection<PendingWrite>;

  constructor(
    private readonly db: mongo.Db,
    readonly name: string,
  ) {
    this.bucket = new mongo.GridFSBucket(db, { bucketName: name });
    this.pending = db.collection<PendingWrite>(PENDING_WRITES);
  }

  /**
   * Streams `source` in under a server-made `filename`. Resolves with the file id and SHA-256, or with
   * null after deleting what was written if `keep()` says no once the bytes are in. A failed upload
   * leaves nothing behind either (the cleanup job catches what a crash mid-upload leaves).
   */
  async upload(
    source: AsyncIterable<Buffer> | Buffer,
    filename: string,
    metadata: Record<string, unknown>,
    keep: () => boolean = () => true,
  ): Promise<{ id: Types.ObjectId; sha256: string } | null> {
    const id = new Types.ObjectId();
    await this.pending.insertOne({ _id: id, bucket: this.name, since: new Date() });
    const upload = this.bucket.openUploadStreamWithId(id, filename, { metadata });
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Buffer.isBuffer(source) ? Readable.from([source]) : Readable.from(source), hashing, upload);
      if (!keep()) {
        await this.delete(id);
        return null;
      }
      const sha256 = hash.digest('hex');
      await this.files().updateOne({ _id: id }, { $set: { 'metadata.sha256': sha256 } });
      await this.pending.deleteOne({ _id: id });
      return { id, sha256 };
    } catch (error) {
      // If this fails too, the pending record stays and the cleanup job deletes the rest.
      await this.delete(id).catch(() => undefined);
      throw error;
    }
  }

  /** `end` inclusive. */
  open(id: Types.ObjectId, range?: { start: number; end: number }): Readable {
    return this.bucket.openDownloadStream(id, range && { start: range.start, end: range.end + 1 });
  }

  /** Removes the file and its chunks; a file already gone is not an error (its chunks still go). */
  async delete(id: Types.ObjectId): Promise<void> {
    await this.pending.updateOne({ _id: id }, { $set: { bucket: this.name, since: new Date() } }, { upsert: true });
    try {
      await this.bucket.delete(id);
    } catch (error) {
      // The driver deletes the chunks before saying the file document was missing.
      if (!(error instanceof mongo.MongoRuntimeError && /File not found/i.test(error.message))) throw error;
    }
    await this.pending.deleteOne({ _id: id });
  }

  files(): mongo.Collection<FileDocument> {
    return this.db.collection<FileDocument>(`${this.name}.files`);
  }

  chunks(): mongo.Collection<{ files_id: Types.ObjectId; n: number }> {
    return this.db.collection(`${this.name}.chunks`);
  }
}

/** The common fields of a complete file, or null for a missing or incomplete one. */
export function storedFile(bucket: string, file: FileDocument | null): StoredFile | null {
  const meta = file?.metadata as { contentType?: string; sha256?: string } | undefined;
  if (!file || !meta?.sha256 || !meta.contentType) return null;
  return {
    bucket,
    id: file._id,
    length: file.length,
    uploadDate: file.uploadDate,
    contentType: meta.contentType,
    sha256: meta.sha256,
  };
}
