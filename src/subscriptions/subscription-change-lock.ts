import type { Redis } from 'ioredis';
import { withRedisLock, type LockOutcome } from '../redis/redis-lock.js';

/** Longer than a charge and its writes take; a crashed holder blocks the member's changes no longer than this. */
export const SUBSCRIPTION_CHANGE_LOCK_MS = 30_000;

/**
 * Runs `work` while no other writer changes this member's subscription: the member's own requests, the provider's
 * webhooks and the sweep all take this lock. Their writes are conditional on the state they read, which MongoDB
 * applies atomically but FerretDB does not (it reads, then writes the whole document), so without it one writer's
 * change could silently undo another's.
 */
export function withSubscriptionChangeLock<T>(
  redis: Redis,
  userId: string,
  work: () => Promise<T>,
): Promise<LockOutcome<T>> {
  return withRedisLock(redis, `subscription-change:${userId}`, SUBSCRIPTION_CHANGE_LOCK_MS, work);
}
