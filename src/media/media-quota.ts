import { ForbiddenException, Injectable, Logger, PayloadTooLargeException, type HttpException } from '@nestjs/common';
import type { Types } from 'mongoose';
import { setTimeout as sleep } from 'node:timers/promises';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { MediaStorage } from './media.storage.js';

/**
 * A file waiting for later uploads that took its quota to withdraw looks every WAIT_MS, for at most MAX_WAIT_MS (less
 * when its request's deadline comes sooner). Each of them withdraws as soon as it is checked, but under load that can
 * take seconds: with 1 s, twenty photos sent at once with room for two kept none when the machine was busy.
 */
const WAIT_MS = 100;
export const MAX_WAIT_MS = 5_000;

/**
 * A member's quotas, MEDIA_QUOTA_FILES files and MEDIA_QUOTA_BYTES bytes, checked twice per upload: before its bytes
 * are read, to refuse early and to cut the file off where the bytes run out, and again once they are in, because
 * uploads run at the same time.
 *
 * The second check keeps a file only when the member's files, this one included, fit. Every upload's file document
 * is written before its own check, so the last of any set of uploads to be checked counts them all: together they
 * never pass a quota. When they do not fit, the files first in id order that fit on their own wait a little for the
 * others, which give up at once and withdraw (marked as such at once, deleted after), so six photos sent at once
 * with room for two keep two, not none. A withdrawn file is never kept, so not counting it is safe.
 */
@Injectable()
export class MediaQuota {
  private readonly logger = new Logger(MediaQuota.name);
  constructor(
    private readonly storage: MediaStorage,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** The bytes the member's next file may have: what is left of the byte quota, at most MEDIA_MAX_BYTES. */
  async room(ownerId: string): Promise<number> {
    const { quotaFiles, quotaBytes, maxBytes } = this.config.media;
    const used = await this.storage.filesOf(ownerId);
    if (used.length >= quotaFiles) throw new ForbiddenException(`Media quota reached: at most ${quotaFiles} files`);
    const room = Math.min(maxBytes, quotaBytes - totalBytes(used));
    // No byte left (or fewer than none, after MEDIA_QUOTA_BYTES was lowered): the file would arrive empty.
    if (room <= 0) throw this.tooLarge(0);
    return room;
  }

  /** The answer for a file cut off at `room` bytes. */
  tooLarge(room: number): PayloadTooLargeException {
    const { quotaBytes, maxBytes } = this.config.media;
    return new PayloadTooLargeException(
      room < maxBytes
        ? `Media quota reached: ${room} of ${quotaBytes} bytes left`
        : `Files are limited to ${maxBytes} bytes`,
    );
  }

  /**
   * Once the bytes of `id` are stored: 403 or 413 if the uploads of the same time leave it no room. `waitMs`: how long
   * it may wait for them to withdraw, at most MAX_WAIT_MS.
   */
  async assertKept(ownerId: string, id: Types.ObjectId, waitMs = MAX_WAIT_MS): Promise<void> {
    const giveUpAt = Date.now() + Math.min(waitMs, MAX_WAIT_MS);
    for (;;) {
      const files = await this.storage.filesOf(ownerId);
      const refusal = this.excess(files);
      if (!refusal) return;
      const first = files.filter((file) => file.id.toHexString() <= id.toHexString());
      if (Date.now() + WAIT_MS >= giveUpAt || this.excess(first)) {
        // Only a head start for the others: the delete that follows withdraws the file anyway.
        await this.storage.withdraw(id).catch((error: unknown) => {
          this.logger.warn(`Refused upload ${id.toHexString()} not marked withdrawn: ${(error as Error).message}`);
        });
        throw refusal;
      }
      await sleep(WAIT_MS);
    }
  }

  private excess(files: readonly { length: number }[]): HttpException | undefined {
    const { quotaFiles, quotaBytes } = this.config.media;
    if (files.length > quotaFiles)
      return new ForbiddenException(
        `Media quota reached: at most ${quotaFiles} files, with the uploads sent alongside`,
      );
    if (totalBytes(files) > quotaBytes)
      return new PayloadTooLargeException(
        `Media quota reached: with the uploads sent alongside, over ${quotaBytes} bytes`,
      );
    return undefined;
  }
}

const totalBytes = (files: readonly { length: number }[]) => files.reduce((sum, file) => sum + file.length, 0);
