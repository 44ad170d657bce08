import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { invalidationChannel, type InvalidationMessage } from '../cache/invalidation-subscription.js';
import { GENERATION_EPOCH_KEY, GENERATION_KEY_PREFIX, TAG_KEY_PREFIX } from '../cache/l2-store.js';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../redis/redis-client.factory.js';

export interface CacheClearing {
  cleared: boolean;
  /** Cache entries, tag sets and generations deleted from Redis. */
  keys: number;
  error?: string;
  /** Why the cache was left alone: the restore went into a database the API does not read. */
  skipped?: string;
}

/** Keys per SCAN step, deleted together. */
const SCAN_COUNT = 500;
/** Who sent the invalidation: no API instance has this id, so every one of them acts on it. */
const ORIGIN = 'backup-restore';

/**
 * The cache describes the API's database only. A restore into another one (the runbook's first step, to look at the
 * data) leaves it alone: emptying it would send every read to the live database at once, and drop the expired
 * entries that answer while that database struggles, likely during the very incident that called for the restore.
 */
export function cacheUntouched(target: string, apiDatabase: string): CacheClearing {
  return { cleared: false, keys: 0, skipped: `${target} is not the API's database (${apiDatabase})` };
}

/**
 * After a restore, every cached answer may describe data that is no longer there (or is back). Deletes
 * the cache's keys in Redis (`<prefix>cache:*` entries, `<prefix>cache-tag:*` sets and `<prefix>cache-gen:*`
 * generations), then tells every running instance on the invalidation channel to empty its in-process L1, which
 * may hold entries whose Redis copy was gone before the restore (evicted, or written while Redis was down). Never
 * throws: the restore has happened either way, and the outcome says what to do.
 */
export async function clearCacheAfterRestore(redis: AppConfig['redis'], logger: Logger): Promise<CacheClearing> {
  // No key prefix on this client: SCAN returns whole names, and UNLINK must take them as found.
  const client = createRedisClient({ ...redis, keyPrefix: undefined }, logger);
  try {
    if (!(await waitUntilReady(client, redis.connectTimeoutMs))) {
      return { cleared: false, keys: 0, error: `Redis did not answer within ${redis.connectTimeoutMs} ms` };
    }
    const prefix = redis.keyPrefix;
    // The epoch first: from then on no load that read it before the restore is written (TieredCache). Dropped with the
    // other generations, last, it let such a load store the replaced data behind the entries' SCAN, for every instance.
    let keys = await client.unlink(`${prefix}${GENERATION_EPOCH_KEY}`);
    // REDIS_KEY_PREFIX allows only letters, digits and `.:-_`, none of them special in a SCAN pattern.
    keys += await unlinkAll(client, `${prefix}cache:*`);
    keys += await unlinkAll(client, `${prefix}${TAG_KEY_PREFIX}*`);
    keys += await unlinkAll(client, `${prefix}${GENERATION_KEY_PREFIX}*`);
    // After the deletions, so an instance that empties its L1 refills it from the restored database, not from Redis.
    const everything: InvalidationMessage = { origin: ORIGIN, keys: [], tags: [], everything: true };
    await client.publish(invalidationChannel(prefix), JSON.stringify(everything));
    return { cleared: true, keys };
  } catch (error) {
    return { cleared: false, keys: 0, error: (error as Error).message };
  } finally {
    await closeRedisClient(client);
  }
}

/** Deletes every key matching `pattern`, one SCAN step at a time. */
async function unlinkAll(client: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let count = 0;
  do {
    const [next, names] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    cursor = next;
    if (!names.length) continue;
    await client.unlink(...names);
    count += names.length;
  } while (cursor !== '0');
  return count;
}
