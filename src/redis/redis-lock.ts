import { Logger, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { OutageLog } from '../common/outage-log.js';

/** Deletes the lock only if it still holds our token: it may have expired and been taken by someone else. */
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
/** Extends the lock only while it still holds our token, so a renewal never revives a lock someone else took. */
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
/**
 * Deletes the key if it has no expiry. Every holder sets one and renews it, so such a key is held by nobody: a SET or
 * a copy by hand, or a tool that dropped TTLs. Left, it refused the lock for ever (a member's subscription changes,
 * every view flush, so that no view was counted again).
 */
const DROP_WITHOUT_EXPIRY = "if redis.call('PTTL', KEYS[1]) == -1 then return redis.call('DEL', KEYS[1]) end return 0";

const logger = new Logger('RedisLock');
/** A failed release is sent again this often, this many times (a failover replaces a connection within a second). */
const RELEASE_RETRY_MS = 1_000;
const RELEASE_RETRIES = 3;
/**
 * Each Redis client's outages, told as they start and end (until 2026-12-07 every subscription change refused during
 * one added a warning). Per client, so that apps sharing a process (tests) do not share them.
 */
const outages = new WeakMap<Redis, OutageLog>();
const outageOf = (redis: Redis): OutageLog =>
  outages.get(redis) ?? outages.set(redis, new OutageLog(logger)).get(redis)!;

/** Redis could not say whether the lock was free: the work did not run. */
export class LockUnavailableException extends ServiceUnavailableException {}

export type LockOutcome<T> = { acquired: true; value: T } | { acquired: false };

/**
 * Runs `work` while holding `key`, or resolves `{ acquired: false }` at once when another holder has it. The lock
 * expires `ttlMs` after its last renewal, so a holder that crashed frees it; a release that fails is left to that
 * expiry too. While `work` runs the lock is renewed every third of `ttlMs`: work slowed by a stalled dependency (a
 * MongoDB write may wait for the driver's 45 s socket timeout) keeps it, rather than a second holder starting beside
 * a write that may still land.
 */
export async function withRedisLock<T>(
  redis: Redis,
  key: string,
  ttlMs: number,
  work: () => Promise<T>,
): Promise<LockOutcome<T>> {
  const token = randomUUID();
  let acquired = await take(redis, key, token, ttlMs);
  // A second try after a key held by nobody was dropped. Failing, it is Redis not answering (503), not a lock held by
  // another (409 for a member's change).
  if (!acquired && (await droppedWithoutExpiry(redis, key))) acquired = await take(redis, key, token, ttlMs);
  if (!acquired) return { acquired: false };
  const renewal = setInterval(() => {
    void renew(redis, key, token, ttlMs).then((held) => {
      if (held) return;
      clearInterval(renewal);
      logger.warn(`Lock ${key} expired or was taken while its work still ran`);
    });
  }, ttlMs / 3);
  try {
    return { acquired: true, value: await work() };
  } finally {
    clearInterval(renewal);
    await release(redis, key, token);
  }
}

/** Whether the lock was taken: false when another holder has it; throws when Redis could not say. */
async function take(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  let answer: string | null;
  try {
    answer = await redis.set(key, token, 'PX', ttlMs, 'NX');
  } catch (error) {
    // A SET that timed out may still reach Redis and hold the lock for nobody until its TTL ends. The release queues
    // behind it on the same connection, so it undoes that SET; not awaited, since Redis is not answering now.
    void release(redis, key, token);
    // The key (a member's id) and the client's message are for the log; a 503's detail is shown to the caller.
    outageOf(redis).failed(`Lock ${key} unavailable: ${(error as Error).message}`);
    throw new LockUnavailableException('Changes are paused while a service is not answering; retry in a few seconds', {
      cause: error,
    });
  }
  outageOf(redis).answered(`Lock ${key} available again`);
  return answer === 'OK';
}

/** Whether the key held no expiry, and was deleted (logged): a failure leaves it, as a held lock. */
async function droppedWithoutExpiry(redis: Redis, key: string): Promise<boolean> {
  const dropped = await redis.eval(DROP_WITHOUT_EXPIRY, 1, key).catch(() => 0);
  if (dropped !== 1) return false;
  logger.warn(`Lock ${key} had no expiry, so nobody held it (set by hand?): deleted`);
  return true;
}

/**
 * False once the lock is no longer ours. A renewal that fails (Redis not answering) is not that: the next one, a third
 * of the expiry later, may still get through in time.
 */
async function renew(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  const renewed = await redis.eval(RENEW, 1, key, token, ttlMs).catch(() => 1);
  return renewed === 1;
}

/**
 * A release that fails is tried again RELEASE_RETRIES times, RELEASE_RETRY_MS apart, then left to the lock's expiry. A
 * failover's READONLY replaces the connection (createRedisClient): a release refused by the demoted node, or sent while
 * its connection was being replaced after a write of the work was refused, held the lock on the new primary for its
 * whole expiry (until 2026-12-06: a member's subscription changes refused for 30 s). Run late, it still deletes only
 * our own token. The retries are not awaited: a request does not wait for Redis to come back.
 */
async function release(redis: Redis, key: string, token: string, retries = RELEASE_RETRIES): Promise<void> {
  const released = await redis.eval(RELEASE, 1, key, token).then(
    () => true,
    () => false,
  );
  if (released || retries === 0) return;
  setTimeout(() => void release(redis, key, token, retries - 1), RELEASE_RETRY_MS).unref();
}
