import {
  ForbiddenException,
  Injectable,
  NotFoundException,
  PreconditionFailedException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { Types } from 'mongoose';
import type { IncomingHttpHeaders } from 'node:http';
import { canActFor, type AuthenticatedUser } from '../auth/authenticated-user.js';
import { isObjectIdHex } from '../database/object-id.js';
import { strongWritePreconditionFailed } from '../http/write-condition.js';
import { entityTagOf } from './gridfs-bucket.js';
import { MediaStorage } from './media.storage.js';

/** Told before a file is deleted, to let go of it (profiles detach it from their photos). */
export type MediaRemovalListener = (id: Types.ObjectId) => Promise<void>;

/**
 * Media as other modules see it: who may attach a file, and its deletion. Modules that hold media
 * ids register a listener rather than being imported here, which keeps the dependency one way
 * (profiles → media).
 */
@Injectable()
export class MediaService {
  private readonly removalListeners: MediaRemovalListener[] = [];

  constructor(private readonly storage: MediaStorage) {}

  onRemove(listener: MediaRemovalListener): void {
    this.removalListeners.push(listener);
  }

  /** A member may attach only their own uploads: unknown ids → 422, someone else's → 403. */
  async assertAttachable(ids: readonly string[], ownerId: string): Promise<void> {
    if (ids.length === 0) return;
    const owners = await this.storage.ownersOf(ids);
    const unknown = ids.filter((id) => !owners.has(id));
    if (unknown.length > 0) throw new UnprocessableEntityException(`No such media: ${unknown.join(', ')}`);
    if (ids.some((id) => owners.get(id) !== ownerId))
      throw new ForbiddenException('Only your own uploads can be attached to your profile');
  }

  /** Those of `ids` (hex) that name no stored file any more, for writers that attached them to check afterwards. */
  async missing(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const owners = await this.storage.ownersOf(ids);
    return ids.filter((id) => !owners.has(id));
  }

  /**
   * Detaches the file everywhere first, then deletes it: if the delete fails, the file is still
   * whole and the request can be repeated; the other order could leave profiles pointing at nothing.
   * It detaches once more after the delete: a profile write that found the file before the first detach may have
   * attached it since. (A write that lands after this second detach finds the file gone: see ProfilesService.)
   */
  async remove(id: Types.ObjectId, user: AuthenticatedUser, headers: IncomingHttpHeaders = {}): Promise<void> {
    const file = await this.storage.find(id);
    if (!file) throw new NotFoundException('Media not found');
    if (!canActFor(user, file.ownerId)) throw new ForbiddenException('Not your file');
    // A file's bytes never change, so its ETag and date hold until it is deleted: checking them on this read is exact.
    if (strongWritePreconditionFailed(headers, entityTagOf(file), file.uploadDate)) {
      throw new PreconditionFailedException('The file does not meet If-Match, If-None-Match or If-Unmodified-Since');
    }
    await this.delete(id);
  }

  /**
   * Deletes those of `ids` (hex) that are `ownerId`'s uploads, as `remove` does (a deleted profile's photos). Ids that
   * name no file, or someone else's, are left alone.
   */
  async removeOwnedBy(ids: readonly string[], ownerId: string): Promise<void> {
    // Profiles written before 2026-11-24 hold photo ids as their clients sent them: in upper case, or strings that are
    // no ObjectId at all (IsMongoId took "0x…"), on which ownersOf threw and the profile could never be deleted.
    const hex = ids.map((id) => id.toLowerCase()).filter(isObjectIdHex);
    if (hex.length === 0) return;
    const owners = await this.storage.ownersOf(hex);
    for (const id of hex) if (owners.get(id) === ownerId) await this.delete(new Types.ObjectId(id));
  }

  /** Finishes a delete that failed halfway, as a repeated DELETE would, or removes a file never completed (cleanup). */
  finishDelete(id: Types.ObjectId): Promise<void> {
    return this.delete(id);
  }

  private async delete(id: Types.ObjectId): Promise<void> {
    await this.detachEverywhere(id);
    await this.storage.remove(id);
    await this.detachEverywhere(id);
  }

  private async detachEverywhere(id: Types.ObjectId): Promise<void> {
    for (const listener of this.removalListeners) await listener(id);
  }
}
