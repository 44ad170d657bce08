import { Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { mongo, Types, type Connection } from 'mongoose';
import { createHash, randomUUID } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface MediaFile {
  id: Types.ObjectId;
  length: number;
  uploadDate: Date;
  contentType: string;
  ownerId: string;
  sha256: string;
}

interface MediaMetadata {
  ownerId: string;
  contentType: string;
  sha256?: string;
}

/**
 * The `media` GridFS bucket (upload, ranged download and delete work the same on MongoDB and
 * FerretDB; see test/e2e/media.e2e-spec.ts). Files are stored under server-made names; the SHA-256
 * of the bytes, computed while they stream in, is the strong ETag.
 */
@Injectable()
export class MediaStorage {
  private readonly bucket: mongo.GridFSBucket;

  constructor(@InjectConnection() private readonly connection: Connection) {
    this.bucket = new mongo.GridFSBucket(connection.db!, { bucketName: 'media' });
  }

  /** Streams `chunks` into GridFS; resolves with the stored file, or deletes it if `keep()` says no afterwards. */
  async store(
    chunks: AsyncIterable<Buffer>,
    meta: Omit<MediaMetadata, 'sha256'>,
    keep: () => boolean,
  ): Promise<MediaFile | null> {
    const upload = this.bucket.openUploadStream(`${randomUUID()}`, { metadata: meta });
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.from(chunks), hashing, upload);
    } catch (error) {
      await this.remove(upload.id).catch(() => undefined);
      throw error;
    }
    if (!keep()) {
      await this.remove(upload.id);
      return null;
    }
    const sha256 = hash.digest('hex');
    await this.files().updateOne({ _id: upload.id }, { $set: { 'metadata.sha256': sha256 } });
    return this.find(upload.id);
  }

  async find(id: Types.ObjectId): Promise<MediaFile | null> {
    const file = await this.files().findOne({ _id: id });
    const meta = file?.metadata as MediaMetadata | undefined;
    if (!file || !meta?.sha256) return null;
    return {
      id,
      length: file.length,
      uploadDate: file.uploadDate,
      contentType: meta.contentType,
      ownerId: meta.ownerId,
      sha256: meta.sha256,
    };
  }

  /**
   * What a member stores now: files and bytes. Summed here from the lengths, not with `$group`/`$sum`
   * on `$length`, which FerretDB 1.24 answers with 0 bytes (decision 0016); the file count is bounded
   * by the quota, so this stays small.
   */
  async usage(ownerId: string): Promise<{ files: number; bytes: number }> {
    const files = await this.files()
      .find({ 'metadata.ownerId': ownerId }, { projection: { length: 1 } })
      .toArray();
    return { files: files.length, bytes: files.reduce((sum, file) => sum + file.length, 0) };
  }

  /** `end` inclusive. */
  open(id: Types.ObjectId, range?: { start: number; end: number }): Readable {
    return this.bucket.openDownloadStream(id, range && { start: range.start, end: range.end + 1 });
  }

  /** Removes the file and its chunks. */
  async remove(id: Types.ObjectId): Promise<void> {
    await this.bucket.delete(id);
  }

  private files() {
    return this.connection.db!.collection<mongo.GridFSFile>('media.files');
  }
}
