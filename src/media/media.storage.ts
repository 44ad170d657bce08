import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { Types, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { CacheEvict, Cacheable } from '../cache/cache.decorators.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DatabaseAnswers } from '../database/database-answers.js';
import { GridFsBucket, storedFile, storedLength, type ChunkWait, type StoredFile } from './gridfs-bucket.js';
import type { ImageSize } from './media-types.js';
import { VARIANT_NAMES, type VariantName } from './media-variants.js';

/** An uploaded original. Dimensions are read from the first bytes at upload, or by the variants job. */
export interface MediaFile extends StoredFile {
  ownerId: string;
  width?: number;
  height?: number;
  /** A delete has begun (see `remove`): the variants job treats the file as gone. */
  deleting?: true;
}

/** A file a download may serve, unless `damaged`: its chunks hold fewer bytes than its record says (holdsAllBytes). */
export interface DownloadableFile extends StoredFile {
  damaged?: true;
}

/** A stored file as the download cache keeps it: JSON, so a hit from Redis reads the same as one from memory. */
interface CachedFile extends Omit<DownloadableFile, 'id' | 'uploadDate'> {
  id: string;
  uploadDate: string;
}

/**
 * What a download looks up before it streams: the original's record (key: its id) or a variant's (id-variant). A
 * complete file never changes, so its entry lasts until the file is deleted, which evicts it. Only files found are
 * kept: an upload still arriving or a variant not made yet is found later.
 */
export const MEDIA_FILE_CACHE = {
  name: 'media-file',
  key: (id: string, variant?: VariantName) => (variant ? `${id}-${variant}` : id),
  ttlS: 3600,
  storeIf: (file: CachedFile | null) => file !== null,
};
const MEDIA_FILE_EVICTION = {
  name: MEDIA_FILE_CACHE.name,
  keys: (id: Types.ObjectId) =>
    [undefined, ...VARIANT_NAMES].map((variant) => MEDIA_FILE_CACHE.key(id.toHexString(), variant)),
};

/**
 * Originals live in the `media` bucket, resized variants in `media_variants` (so variants never
 * count against a member's quota and are found by original id and name). Upload, ranged download
 * and delete work the same on MongoDB and FerretDB; see test/e2e/media.e2e-spec.ts.
 */
@Injectable()
export class MediaStorage implements OnModuleInit {
  private readonly logger = new Logger(MediaStorage.name);
  readonly originals: GridFsBucket;
  readonly variants: GridFsBucket;
  private readonly chunkWait: ChunkWait;

  constructor(
    @InjectConnection() connection: Connection,
    @Inject(APP_CONFIG) config: AppConfig,
    answers: DatabaseAnswers,
  ) {
    // The request deadline's length, in rounds: a download fails once the database answered nothing for one round.
    this.chunkWait = {
      timeoutMs: config.http.handlerTimeoutMs,
      databaseAnsweredWithin: (ms) => answers.answeredWithin(ms),
    };
    this.originals = new GridFsBucket(connection.db!, 'media');
    this.variants = new GridFsBucket(connection.db!, 'media_variants');
  }

  /**
   * The indexes of the lookups by owner (every upload's quota checks, in id order), by original (a delete's variants)
   * and by hash (the cleanup's files without one, GridFsBucket.incompleteFiles); the driver makes GridFS's own (by
   * name, by file and chunk number). Without them each of these reads every file's document. Not awaited: on MongoDB a
   * build returns once every voting member has it, which on a large collection or with a member down outlasts the
   * startup probe; until then the lookups are slow, not wrong. A failure is logged.
   */
  onModuleInit(): void {
    const index = (bucket: GridFsBucket, keys: Record<string, 1>) =>
      bucket
        .files()
        .createIndex(keys)
        .catch((error: unknown) =>
          this.logger.warn(
            `Index ${JSON.stringify(keys)} of ${bucket.name}.files not created: ${(error as Error).message}`,
          ),
        );
    void index(this.originals, { 'metadata.ownerId': 1, _id: 1 });
    void index(this.originals, { 'metadata.sha256': 1 });
    void index(this.variants, { 'metadata.originalId': 1 });
  }

  /**
   * Streams an upload in; null (and nothing kept) when `keep()` says no once the bytes are in, or once more just before
   * the file is settled. Asked that last time because past the settle only the caller's own delete removes the file:
   * if the database failed it (a client gone at that moment), the file stayed for good, which until 2026-12-06 it did.
   */
  async store(
    chunks: AsyncIterable<Buffer>,
    meta: { ownerId: string; contentType: string; size?: ImageSize },
    keep: (id: Types.ObjectId) => boolean | Promise<boolean>,
  ): Promise<MediaFile | null> {
    const metadata = { ownerId: meta.ownerId, contentType: meta.contentType, ...meta.size };
    const stored = await this.originals.upload(chunks, randomUUID(), metadata, keep, { settle: false });
    if (!stored) return null;
    try {
      const file = await this.find(stored.id);
      if (!(await keep(stored.id))) {
        await this.remove(stored.id);
        return null;
      }
      await this.originals.settle(stored.id);
      return file;
    } catch (error) {
      // The client gets an error, not the id: a file it cannot learn of is not kept. Removed now if the database
      // answers; if not, its write is still pending and the cleanup job removes it (until 2026-12-06 it stayed, counted
      // in the member's quota for good).
      await this.remove(stored.id).catch(() => undefined);
      throw error;
    }
  }

  /** The complete file a download serves, the original or one of its variants, through MEDIA_FILE_CACHE. */
  async downloadable(id: Types.ObjectId, variant?: VariantName): Promise<DownloadableFile | null> {
    const cached = await this.fileRecord(id.toHexString(), variant);
    return cached && { ...cached, id: new Types.ObjectId(cached.id), uploadDate: new Date(cached.uploadDate) };
  }

  @Cacheable(MEDIA_FILE_CACHE)
  async fileRecord(id: string, variant?: VariantName): Promise<CachedFile | null> {
    const objectId = new Types.ObjectId(id);
    const file = variant ? await this.findVariant(objectId, variant) : await this.find(objectId);
    if (!file) return null;
    // Checked once per cache entry, so downloads pay for it once an hour, not on every request. A damaged file is kept
    // as such: its chunks do not mend themselves, and a restore that replaces them clears the cache
    // (cache-after-restore.ts).
    const whole = await (variant ? this.variants : this.originals).holdsAllBytes(file);
    if (!whole) {
      const what = variant ? `Variant ${variant} of media ${id}` : `Media ${id}`;
      this.logger.warn(`${what} is damaged: its chunks hold fewer than the ${file.length} bytes its record says`);
    }
    // A variant's own id, not the original's: its chunks are filed under it.
    const { bucket, length, chunkSize, uploadDate, contentType, sha256 } = file;
    return {
      bucket,
      id: file.id.toHexString(),
      length,
      chunkSize,
      uploadDate: uploadDate.toISOString(),
      contentType,
      sha256,
      ...(whole ? {} : { damaged: true as const }),
    };
  }

  async find(id: Types.ObjectId): Promise<MediaFile | null> {
    const document = await this.originals.files().findOne({ _id: id });
    const file = storedFile(this.originals.name, document);
    if (!file) return null;
    const meta = document!.metadata as { width?: number; height?: number; deleting?: true };
    return { ...file, ownerId: ownerOf(document!), width: meta.width, height: meta.height, deleting: meta.deleting };
  }

  /**
   * Owner of each existing original among `ids` (hex), keyed by id. A file whose delete has begun is left out: it must
   * not be attached again (its variants are gone and nothing makes them again), and writers that attached it detach it.
   */
  async ownersOf(ids: readonly string[]): Promise<Map<string, string>> {
    const files = await this.originals
      .files()
      .find(
        {
          _id: { $in: ids.map((id) => new Types.ObjectId(id)) },
          'metadata.sha256': { $exists: true },
          'metadata.deleting': { $exists: false },
        },
        { projection: { 'metadata.ownerId': 1, length: 1 } },
      )
      .toArray();
    // A record without a length is never served (storedFile): attached, it was a photo that answered 404.
    const served = files.filter((file) => storedLength(file.length) !== undefined);
    return new Map(served.map((file) => [file._id.toHexString(), ownerOf(file)]));
  }

  /**
   * The originals a member stores now, complete or still being written (once their bytes are in), in id order, less
   * those withdrawn (refused by the quota, being deleted). Summed by the caller from the lengths, not with
   * `$group`/`$sum` on `$length`, which FerretDB 1.24 answers with 0 bytes (decision 0016); the count is bounded by the
   * quota, so this stays small.
   */
  async filesOf(ownerId: string): Promise<{ id: Types.ObjectId; length: number }[]> {
    const files = await this.originals
      .files()
      .find(
        { 'metadata.ownerId': ownerId, 'metadata.withdrawn': { $ne: true } },
        { projection: { length: 1 }, sort: { _id: 1 } },
      )
      .toArray();
    // One without a length is never served (storedFile), so it holds no part of the quota; an upload's own record
    // always has its length (the driver writes it with the record), so uploads sent together still count each other.
    return files.flatMap((file) => {
      const length = storedLength(file.length);
      return length === undefined ? [] : [{ id: file._id, length }];
    });
  }

  /**
   * Marks an upload refused by the quota before it is deleted: one small write, where the delete takes several, so
   * the uploads waiting for it to make room (MediaQuota) stop counting it sooner.
   */
  async withdraw(id: Types.ObjectId): Promise<void> {
    await this.originals.files().updateOne({ _id: id }, { $set: { 'metadata.withdrawn': true } });
  }

  /** Records that the variants job is through with a file, and the size it decoded. */
  markProcessed(id: Types.ObjectId, outcome: 'done' | 'unreadable', size?: ImageSize): Promise<unknown> {
    const sizeFields = size && { 'metadata.width': size.width, 'metadata.height': size.height };
    return this.originals.files().updateOne({ _id: id }, { $set: { 'metadata.processed': outcome, ...sizeFields } });
  }

  /** Originals whose delete began and did not finish (it failed halfway: the database, or the process, went). */
  async unfinishedDeletes(limit: number): Promise<Types.ObjectId[]> {
    const files = await this.originals
      .files()
      .find({ 'metadata.deleting': true }, { projection: { _id: 1 } })
      .limit(limit)
      .toArray();
    return files.map((file) => file._id);
  }

  /** Complete originals older than `before` the variants job has not finished (its request may have been lost). */
  async unprocessed(before: Date, limit: number): Promise<Types.ObjectId[]> {
    const files = await this.originals
      .files()
      .find(
        {
          'metadata.processed': { $exists: false },
          'metadata.sha256': { $exists: true },
          // A delete that failed halfway leaves its mark: the job would do nothing for it, every run.
          'metadata.deleting': { $exists: false },
          uploadDate: { $lt: before },
        },
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
    const bucket = file.bucket === this.variants.name ? this.variants : this.originals;
    return bucket.open(file, this.chunkWait, range);
  }

  /**
   * Removes the original and its variants, files and chunks. Their download records are forgotten even when this
   * fails halfway: the driver deletes a file's document before its chunks, and a retried delete finds no document
   * to start from, so a record kept now would go on serving the chunks left behind.
   *
   * The original is marked `deleting` before the variants are listed. A variants job looks at the original again once
   * its variants are written: either it finds the mark (or no original) and removes them itself, or it wrote them
   * before the mark, so before the listing here, which finds them. Without the mark, a variant written between this
   * listing and the original's removal, by a job that looked in between, was left with nothing pointing at it.
   */
  async remove(id: Types.ObjectId): Promise<void> {
    try {
      // Null metadata (a hand edit) cannot take the mark (the server refuses the write), and its file needs none:
      // without a hash, nothing serves it and the variants job takes it for gone.
      const marked = { 'metadata.deleting': true };
      await this.originals.files().updateOne({ _id: id, metadata: { $type: 'object' } }, { $set: marked });
      await this.deleteVariants(id);
      await this.originals.delete(id);
    } finally {
      await this.forget(id);
    }
  }

  /** Removes the variants of an original that is gone or being deleted (the variants job), and their records. */
  async removeVariants(id: Types.ObjectId): Promise<void> {
    try {
      await this.deleteVariants(id);
    } finally {
      await this.forget(id);
    }
  }

  private async deleteVariants(id: Types.ObjectId): Promise<void> {
    const variants = await this.variants
      .files()
      .find({ 'metadata.originalId': id }, { projection: { _id: 1 } })
      .toArray();
    for (const variant of variants) await this.variants.delete(variant._id);
  }

  /** Drops the download records of a file and its variants on every instance (see MEDIA_FILE_CACHE). */
  @CacheEvict(MEDIA_FILE_EVICTION)
  forget(_id: Types.ObjectId): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The owner's id as the API writes it (lower-case hex): a record edited by hand may hold it in upper case or as an
 * ObjectId, which no member's id matched, so its owner was refused their own file (403). No owner reads as '', no
 * one's.
 */
function ownerOf(file: { metadata?: unknown }): string {
  const owner = (file.metadata as { ownerId?: unknown } | null | undefined)?.ownerId;
  if (owner instanceof Types.ObjectId) return owner.toHexString();
  return typeof owner === 'string' ? owner.toLowerCase() : '';
}

export function variantFilename(originalId: Types.ObjectId, variant: VariantName): string {
  return `${originalId.toHexString()}-${variant}`;
}
