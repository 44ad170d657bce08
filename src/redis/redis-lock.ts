import { Logger, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';

/** Deletes the lock only if it still holds our token: it may have expired and been taken by someone else. */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

const logger = new Logger('RedisLock');

/** Redis could not say whether the lock was free: the work did not run. */
export class LockUnavailableException extends ServiceUnavailableException {}

export type LockOutcome<T> = { acquired: true; value: T } | { acquired: false };

/**
 * Runs `work` while holding `key`, or resolves `{ acquired: false }` at once when another holder has it. The lock
 * expires after `ttlMs`, so a holder that crashed frees it; a release that fails is left to that expiry too.
 */
export async function withRedisLock<T>(
  redis: Redis,
  key: string,
  ttlMs: number,
  work: () => Promise<T>,
): Promise<LockOutcome<T>> {
  const token = randomUUID();
  let acquired: string | null;
  try {
    acquired = await redis.set(key, token, 'PX', ttlMs, 'NX');
  } catch (error) {
    // A SET that timed out may still reach Redis and hold the lock for nobody until its TTL ends. The release queues
    // behind it on the same connection, so it undoes that SET; not awaited, since Redis is not answering now.
    void release(redis, key, token);
    // The key (a member's id) and the client's message are for the log; a 503's detail is shown to the caller.
    logger.warn(`Lock ${key} unavailable: ${(error as Error).message}`);
    throw new LockUnavailableException('Changes are paused while a service is not answering; retry in a few seconds', {
      cause: error,
    });
  }
  if (!acquired) return { acquired: false };
  try {
    return { acquired: true, value: await work() };
  } finally {
    await release(redis, key, token);
  }
}

/** A release that fails is left to the lock's expiry. */
async function release(redis: Redis, key: string, token: string): Promise<void> {
  await redis.eval(RELEASE, 1, key, token).catch(() => undefined);
}
