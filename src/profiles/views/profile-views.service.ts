import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Types } from 'mongoose';
import { REDIS_CLIENT } from '../../redis/redis.constants.js';
import { VIEW_KEYS } from './profile-views.constants.js';

/**
 * Counts a view with one atomic HINCRBY in Redis instead of a database write per view; the flush job
 * moves the counts to MongoDB in batches. Concurrent viewers never lose increments.
 */
@Injectable()
export class ProfileViewsService {
  private readonly logger = new Logger(ProfileViewsService.name);

  constructor(@Inject(REDIS_CLIENT) private readonly redis: Redis) {}

  /** Best effort: with Redis down the view is not counted, and the profile is still served. */
  async record(profileId: Types.ObjectId): Promise<void> {
    try {
      await this.redis.hincrby(VIEW_KEYS.pending, profileId.toHexString(), 1);
    } catch (error) {
      this.logger.warn(`View of ${profileId.toHexString()} not counted: ${(error as Error).message}`);
    }
  }
}
