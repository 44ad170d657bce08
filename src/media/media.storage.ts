import { Injectable } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GridFsBucket, storedFile, type StoredFile } from './gridfs-bucket.js';
import type { ImageSize } from './media-types.js';
import type { VariantName } from './media-variants.js';

/** An uploaded original. Dimensions are read from the first bytes at upload, or by the variants job. */
export interface MediaFile extends StoredFile {
  ownerId: string;
  width?: number;
  height?: number;
}

/**
 * Originals live in the `media` bucket, resized variants in `media_variants` (so variants never
 * count against a member's quota and are found by original id and name). Upload, ranged download
 * and delete work the same on MongoDB and FerretDB; see test/e2e/media.e2e-spec.ts.
 */
@Injectable()
export class MediaStorage {
  readonly originals: GridFsBucket;
  readonly variants: GridFsBucket;

  constructor(@InjectConnection() connection: Connection) {
    this.originals = new GridFsBucket(connection.db!, 'media');
    this.variants = new GridFsBucket(connection.db!, 'media_variants');
  }

  /** Streams an upload in; null (and nothing kept) when `keep()` says no once the bytes are in. */
  async store(
    chunks: AsyncIterable<Buffer>,
    meta: { ownerId: string; contentType: string; size?: ImageSize },
    keep: () => boolean,
  ): Promise<MediaFile | null> {
    const metadata = { ownerId: meta.ownerId, contentType: meta.contentType, ...meta.size };
    const stored = await this.originals.upload(chunks, randomUUID(), metadata, keep);
    return stored && this.find(stored.id);
  }

  async find(id: Types.ObjectId): Promise<MediaFile | null> {
    const document = await this.originals.files().findOne({ _id: id });
    const file = storedFile(this.originals.name, document);
    if (!file) return null;
    const meta = document!.metadata as { ownerId: string; width?: number; height?: number };
    return { ...file, ownerId: meta.ownerId, width: meta.width, height: meta.height };
  }

  /** Owner of each existing original among `ids` (hex), keyed by id. */
  async ownersOf(ids: readonly string[]): Promise<Map<string, string>> {
    const files = await this.originals
      .files()
      .find(
        { _id: { $in: ids.map((id) => new Types.ObjectId(id)) }, 'metadata.sha256': { $exists: true } },
        { projection: { 'metadata.ownerId': 1 } },
      )
      .toArray();
    return new Map(files.map((file) => [file._id.toHexString(), (file.metadata as { ownerId: string }).ownerId]));
  }

  /**
   * What a member stores now: files and bytes. Summed here from the lengths, not with `$group`/`$sum`
   * on `$length`, which FerretDB 1.24 answers with 0 bytes (decision 0016); the file count is bounded
   * by the quota, so this stays small.
   */
  async usage(ownerId: string): Promise<{ files: number; bytes: number }> {
    const files = await this.originals
      .files()
      .find({ 'metadata.ownerId': ownerId }, { projection: { length: 1 } })
      .toArray();
    return { files: files.length, bytes: files.reduce((sum, file) => sum + file.length, 0) };
  }

  /** Records that the variants job is through with a file, and the size it decoded. */
  markProcessed(id: Types.ObjectId, outcome: 'done' | 'unreadable', size?: ImageSize): Promise<unknown> {
    const sizeFields = size && { 'metadata.width': size.width, 'metadata.height': size.height };
    return this.originals.files().updateOne({ _id: id }, { $set: { 'metadata.processed': outcome, ...sizeFields } });
  }

  /** Complete originals older than `before` the variants job has not finished (its request may have been lost). */
  async unprocessed(before: Date, limit: number): Promise<Types.ObjectId[]> {
    const files = await this.originals
      .files()
      .find(
        { 'metadata.processed': { $exists: false }, 'metadata.sha256': { $exists: true }, uploadDate: { $lt: before } },
        { projection: { _id: 1 } },
      )
      .limit(limit)
      .toArray();
    return files.map((file) => file._id);
  }

  async findVariant(originalId: Types.ObjectId, variant: VariantName): Promise<StoredFile | null> {
    return storedFile(
      this.variants.name,
      await this.variants.files().findOne({ filename: variantFilename(originalId, variant) }),
    );
  }

  /** Stores a variant under its deterministic name, so a retried job finds what it already made. */
  async storeVariant(originalId: Types.ObjectId, variant: VariantName, bytes: Buffer, size: ImageSize): Promise<void> {
    const metadata = { originalId, variant, contentType: 'image/webp', ...size };
    await this.variants.upload(bytes, variantFilename(originalId, variant), metadata);
  }

  open(file: StoredFile, range?: { start: number; end: number }): Readable {
    return (file.bucket === this.variants.name ? this.variants : this.originals).open(file, range);
  }

  /** Removes the original and its variants, files and chunks. */
  async remove(id: Types.ObjectId): Promise<void> {
    const variants = await this.variants.files().find({ 'metadata.originalId': id }).toArray();
    for (const variant of variants) await this.variants.delete(variant._id);
    await this.originals.delete(id);
  }
}

export function variantFilename(originalId: Types.ObjectId, variant: VariantName): string {
  return `${originalId.toHexString()}-${variant}`;
}
