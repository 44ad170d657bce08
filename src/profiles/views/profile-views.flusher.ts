import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { TieredCache } from '../../cache/tiered-cache.js';
import { isObjectIdHex } from '../../database/object-id.js';
import { REDIS_CLIENT } from '../../redis/redis.constants.js';
import { withRedisLock } from '../../redis/redis-lock.js';
import { PROFILE_CACHE } from '../profile-caches.js';
import { ProfilesRepository, type ViewBatch } from '../profiles.repository.js';
import { VIEW_KEYS } from './profile-views.constants.js';
import { ProfileViewsService } from './profile-views.service.js';

/**
 * Atomically turns the pending counts into the in-flight batch with a fresh id and the next sequence number, unless a
 * batch is already in flight (a previous flush died), in which case that batch, its id and its number are resumed. A
 * number is the larger of the last one plus one and the time in ms: they only grow, also after Redis lost its data
 * (unless the clock of the worker that claims next is behind the last one's by more than the time between them). The
 * number is stored with the id it belongs to (`<id> <seq>`): a version without numbers neither sets nor deletes it, so
 * one left from an earlier batch is not taken for the batch in flight, which gets a new one.
 * A key of a type the flush never writes there, or a last number that is no whole number (a hand edit, a tool that
 * copied keys), is deleted or replaced, and its name returned for the log: the script failed on it (WRONGTYPE, a nil
 * in arithmetic) on every flush, and no view was counted again; pending counts of another type were renamed into the
 * batch, which HGETALL then refused for ever. A batch whose id was lost is resumed under a new id and number.
 * KEYS: pending, inflight, inflight id, inflight seq, last seq. ARGV: a new id, the time in ms.
 * Returns {replaced keys} when there is nothing to flush, else {replaced keys, id, seq}.
 */
const CLAIM_BATCH = `
local replaced = {}
local function holds(key, kind)
  local found = redis.call('TYPE', key).ok
  if found == kind then return true end
  if found ~= 'none' then
    redis.call('DEL', key)
    table.insert(replaced, key)
  end
  return false
end
local function next_seq(id)
  local last = 0
  if holds(KEYS[5], 'string') then
    last = tonumber(redis.call('GET', KEYS[5]))
    if not last or last < 0 or last >= 9007199254740992 or last ~= math.floor(last) then
      table.insert(replaced, KEYS[5])
      last = 0
    end
  end
  local seq = string.format('%d', math.max(last + 1, tonumber(ARGV[2])))
  redis.call('SET', KEYS[5], seq)
  redis.call('SET', KEYS[4], id .. ' ' .. seq)
  return seq
end
if holds(KEYS[2], 'hash') then
  local id = holds(KEYS[3], 'string') and redis.call('GET', KEYS[3])
  if not id then
    id = ARGV[1]
    redis.call('SET', KEYS[3], id)
    table.insert(replaced, KEYS[3])
  end
  local stored = holds(KEYS[4], 'string') and redis.call('GET', KEYS[4])
  if stored and string.sub(stored, 1, #id + 1) == id .. ' ' then return {replaced, id, string.sub(stored, #id + 2)} end
  return {replaced, id, next_seq(id)}
end
if not holds(KEYS[1], 'hash') then return {replaced} end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], ARGV[1])
return {replaced, ARGV[1], next_seq(ARGV[1])}`;

/**
 * Ends the batch (KEYS[1], its id in KEYS[2], its number in KEYS[3]) only if it is still ours: a flush that outlived its
 * lock may end after another worker finished this batch and claimed the next one, which must stay until it is written.
 */
const FINISH_BATCH = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1`;

const LOCK_TTL_MS = 60_000;
const WRITE_CHUNK = 1_000;

export interface FlushResult {
  batchId: string | null;
  profiles: number;
  views: number;
}

/**
 * Moves counted views from Redis to MongoDB. Crash-safe: the batch stays in Redis until MongoDB has
 * it, and each profile records the number of the last batch it received, so re-running a batch, or
 * finishing it late, adds nothing twice. A lock keeps two flushers from interleaving batches.
 */
@Injectable()
export class ProfileViewsFlusher {
  private readonly logger = new Logger(ProfileViewsFlusher.name);

  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly profiles: ProfilesRepository,
    private readonly cache: TieredCache,
    private readonly views: ProfileViewsService,
  ) {}

  /** Other instances send their views on their own timers; this one's go first, so a flush sees them. */
  async flush(): Promise<FlushResult> {
    await this.views.send();
    const outcome = await withRedisLock(this.redis, VIEW_KEYS.lock, LOCK_TTL_MS, () => this.flushBatch());
    return outcome.acquired ? outcome.value : { batchId: null, profiles: 0, views: 0 };
  }

  private async flushBatch(): Promise<FlushResult> {
    const [replaced, id, seq] = (await this.redis.eval(
      CLAIM_BATCH,
      5,
      VIEW_KEYS.pending,
      VIEW_KEYS.inflight,
      VIEW_KEYS.inflightId,
      VIEW_KEYS.inflightSeq,
      VIEW_KEYS.lastSeq,
      randomUUID(),
      Date.now(),
    )) as [string[], string?, string?];
    for (const key of replaced) {
      this.logger.warn(`View flush: ${key} was of another type, no number or missing (set by hand?): replaced`);
    }
    if (id === undefined || seq === undefined) return { batchId: null, profiles: 0, views: 0 };
    const batch: ViewBatch = { id, seq: Number(seq) };

    const counts = this.countsOf(batch, await this.redis.hgetall(VIEW_KEYS.inflight));
    const entries = [...counts];
    for (let start = 0; start < entries.length; start += WRITE_CHUNK) {
      const chunk = entries.slice(start, start + WRITE_CHUNK);
      await this.profiles.applyViewBatch(batch, new Map(chunk));
      // Cached profiles show their view count: drop the ones that just changed, on every instance.
      await this.cache.invalidate(
        PROFILE_CACHE.name,
        chunk.map(([id]) => id),
      );
    }
    await this.redis.eval(FINISH_BATCH, 3, VIEW_KEYS.inflight, VIEW_KEYS.inflightId, VIEW_KEYS.inflightSeq, batch.id);

    const views = entries.reduce((sum, [, count]) => sum + count, 0);
    this.logger.debug(`Flushed ${views} views of ${counts.size} profiles (batch ${batch.id})`);
    return { batchId: batch.id, profiles: counts.size, views };
  }

  /**
   * The batch's counts by profile id. Views count only under the ids of profiles read (`toHexString()`), so a field
   * that is no such id, or a count that is no whole number above zero, was written by hand: counted, the id failed
   * the batch's write (a BSONError), retried on every flush so that no view was counted for anyone again, and the
   * count could store NaN. Left out and logged.
   */
  private countsOf(batch: ViewBatch, stored: Record<string, string>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [id, views] of Object.entries(stored)) {
      const count = Number(views);
      if (isObjectIdHex(id) && Number.isSafeInteger(count) && count > 0) counts.set(id, count);
      else {
        const entry = `${JSON.stringify(id)}: ${JSON.stringify(views)}`;
        this.logger.warn(
          `View batch ${batch.id}: ${entry} is no profile id and view count (set by hand?); not counted`,
        );
      }
    }
    return counts;
  }
}
