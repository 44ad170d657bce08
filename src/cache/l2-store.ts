import { Logger } from '@nestjs/common';
import { ReplyError, type Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { withTimeout } from '../common/with-timeout.js';
import type { CacheEntry } from './cache-entry.js';
import type { CacheMetrics } from './cache-metrics.js';

/** Redis keys of tag sets start with this (after the client's key prefix). */
export const TAG_KEY_PREFIX = 'cache-tag:';
/**
 * Every invalidation gives each key and tag it names a new random generation, kept under this prefix for
 * GENERATION_TTL_MS. A load writes its value to Redis only if the generations it read before calling the loader are
 * unchanged, so a load that read the database before a write can never store its value after the write's deletion.
 */
export const GENERATION_KEY_PREFIX = 'cache-gen:';
const GENERATION_TTL_MS = 60_000;
/**
 * Read into every stamp beside the generations, and created (without an expiry) when missing. A generation Redis lost
 * (FLUSHALL, FLUSHDB, a restore) read as '' again, as if its write had never happened: a load on an instance that had
 * not heard of the write yet stored what it read before it, and every instance served that from Redis until the second
 * invalidation. Lost with them, the epoch is new or missing at the store, so the load is not stored. An eviction, which
 * takes single keys and never this one (no expiry, read by every load), is not covered: Redis must keep `noeviction`.
 */
export const GENERATION_EPOCH_KEY = `${GENERATION_KEY_PREFIX}epoch`;
/**
 * Creates the epoch (KEYS[1], ARGV[1]) unless it holds one, replacing a key of another type (a hand edit, a tool that
 * copied keys), which MGET reads as missing: with SET NX alone, which leaves such a key, no load was stored in Redis
 * again, each paying two more round trips. Returns 1 if it replaced one.
 */
const CREATE_EPOCH = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if kind == 'none' then return 0 end
return 1`;
/** A load that took longer than this is not written to Redis: its generations may have expired meanwhile. */
const GENERATION_MAX_LOAD_MS = GENERATION_TTL_MS - 10_000;
/**
 * The commands of the cache's connection written to the socket at once, outside ioredis' auto-pipelining: deletions and
 * stores (EVAL) and invalidation messages (PUBLISH). ioredis writes no auto-pipeline until every reply of the one
 * before it has arrived, so while Redis answered late, a deletion and its message sat in the client behind a read's
 * pipeline: with replies 80 ms late for a moment, peers heard a write up to 150 ms after it was acknowledged and served
 * the old value from L1 meanwhile (a two-instance stress run, 2026-12-07). Reads this instance starts after dropping
 * its L1 entries still wait for their pipeline, so the deletion reaches Redis ahead of them, as before.
 */
export const L2_SENT_AT_ONCE: readonly string[] = ['eval', 'publish'];
/** After a Redis failure, skip L2 for this long instead of paying the timeout on every request. */
export const L2_BACKOFF_MS = 1_000;

/*
 * The two deletion scripts delete before they set the new generations. A script runs atomically, so the order makes no
 * difference to loads; it matters when Redis is full (maxmemory with noeviction, the policy Bull needs): Redis then
 * refuses a script whose first write may grow memory (a SET) but not one that has written already, as it cannot stop
 * a script halfway. Deleting first, the entries still go. (A MULTI with the SETs first was refused whole: peers that
 * dropped their L1 copies on the message read the old entries back from Redis for their whole TTL.)
 */

/** Deletes the entries KEYS[1 .. ARGV[1]] and gives each of them a new generation (the remaining KEYS), ARGV[2]. */
const DELETE_KEYS = `
local count = tonumber(ARGV[1])
for i = 1, count do redis.call('DEL', KEYS[i]) end
for i = count + 1, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'PX', ARGV[3]) end
return count`;

/**
 * Deletes the tag's member keys and the tag set, then gives the tag a new generation, in one round trip. A tag key that
 * is no set (written by something else) has no members: STORE_IF_CURRENT stores nothing under it.
 */
const DELETE_TAG = `
local keys = {}
if redis.call('TYPE', KEYS[1]).ok == 'set' then keys = redis.call('SMEMBERS', KEYS[1]) end
for _, key in ipairs(keys) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return #keys`;

/**
 * Members of a tag set whose entries are gone (expired, or deleted by key) are not removed by anything else: a set that
 * never expires, as LIST_TAG's (on every search and nearby page, dropped only after a failed write) while pages are
 * stored, kept every page ever stored under it, each distinct filter and cursor a client sent, and its invalidation then
 * deleted them all in one script, blocking Redis. So each store checks this many random members and removes the dead,
 * which keeps a set at about PRUNED_PER_STORE / (PRUNED_PER_STORE - 1) times its live members.
 */
const PRUNED_PER_STORE = 4;

/**
 * Stores an entry (KEYS[1]) unless one of the generation keys (KEYS[2 .. 1 + ARGV[4]]) has changed since the load
 * read them (ARGV[5 ..], '' for none), and adds it to its tag sets (the remaining KEYS). Each set lives as long as
 * its longest-lived member: NX gives a new set an expiry, GT only extends it; dead members are pruned after the SET (see
 * PRUNED_PER_STORE), so a full Redis still refuses the whole script. Returns 1 if stored.
 *
 * Nothing is stored under a tag key that holds something other than a set (written by something else), until the tag's
 * invalidation replaces it: SADD failed on it after the SET (a script is not rolled back), so the entry was in Redis
 * but in no set, and the invalidation, refused by SMEMBERS, never deleted it: other instances served it for its whole
 * TTL. (Dropping the key here would be a write before the SET, which a full Redis would then have to let through.)
 */
const STORE_IF_CURRENT = `
local generations = tonumber(ARGV[4])
for i = 1, generations do
  if (redis.call('GET', KEYS[1 + i]) or '') ~= ARGV[4 + i] then return 0 end
end
for i = 2 + generations, #KEYS do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'set' and kind ~= 'none' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2 + generations, #KEYS do
  for _, member in ipairs(redis.call('SRANDMEMBER', KEYS[i], ${PRUNED_PER_STORE})) do
    if redis.call('EXISTS', member) == 0 then redis.call('SREM', KEYS[i], member) end
  end
  redis.call('SADD', KEYS[i], ARGV[3])
  redis.call('PEXPIRE', KEYS[i], ARGV[2], 'NX')
  redis.call('PEXPIRE', KEYS[i], ARGV[2], 'GT')
end
return 1`;

/** The generations a load read before it started, and when (performance.now()). */
export interface Stamp {
  keys: string[];
  values: string[];
  at: number;
}

/**
 * The Redis tier. Every operation gives up after `timeoutMs` (the client's own command timeout is only a backstop)
 * and fails open: a failed read is a miss, a failed write is skipped, and after any failure Redis is skipped for
 * L2_BACKOFF_MS. Deletions that failed or were skipped are pending until replayed (by TieredCache): meanwhile their keys
 * read as misses.
 */
export class L2Store {
  private readonly logger = new Logger(L2Store.name);
  private skipUntil = 0;
  /** Set when the connection closes; the next 'ready' then distrusts what Redis holds (see reconnected). */
  private dropped = false;
  /** Entries whose load started before this (ms since epoch) are misses: see reconnected. */
  private trustFrom = 0;
  private readonly pending = { keys: new Set<string>(), tags: new Set<string>() };

  constructor(
    private readonly redis: Redis,
    private readonly metrics: CacheMetrics,
    private readonly options: { timeoutMs: number },
  ) {}

  /** Follows the connection; `onReady` runs on every (re)connect, after what Redis holds is judged. */
  watch(onReady: () => void): void {
    this.redis.on('close', () => (this.dropped = true));
    this.redis.on('ready', () => {
      this.reconnected();
      onReady();
    });
    // Not connected yet (Redis was down at start): whatever it holds when it comes is treated as after an outage.
    if (this.redis.status !== 'ready') this.dropped = true;
  }

  /**
   * After a lost connection, entries Redis kept through the outage (a network outage, a failover, a restart from
   * disk) may predate a write whose deletion failed on another instance, which replays it only once it is back
   * itself, maybe seconds later, maybe never if it died. So entries loaded before now are misses here: each key is
   * loaded once more, and the new entry, loaded after the write, is trusted by every instance.
   */
  private reconnected(): void {
    if (this.dropped) this.trustFrom = Date.now();
    this.dropped = false;
    this.skipUntil = 0;
  }

  async read<T>(fullKey: string, tags: readonly string[]): Promise<CacheEntry<T> | undefined> {
    if (!this.available()) return undefined;
    // Until a failed deletion has been replayed, Redis may still hold the old value: a miss, not a hit.
    if (this.pending.keys.has(fullKey) || tags.some((tag) => this.pending.tags.has(tag))) return undefined;
    let raw: string | null;
    try {
      raw = await this.call(this.redis.get(fullKey));
    } catch (error) {
      this.failed('get', error);
      return undefined;
    }
    const entry = raw ? parseEntry<T>(raw) : undefined;
    return entry && (entry.w ?? 0) >= this.trustFrom ? entry : undefined;
  }

  /**
   * The current generations of the key and its tags, read before a load (see GENERATION_KEY_PREFIX); undefined when
   * Redis is skipped or fails, and then the load is not written to Redis.
   */
  async readGenerations(fullKey: string, tags: readonly string[]): Promise<Stamp | undefined> {
    if (!this.available()) return undefined;
    const keys = [GENERATION_EPOCH_KEY, keyGeneration(fullKey), ...tags.map(tagGeneration)];
    try {
      let values = await this.call(this.redis.mget(...keys));
      if (values[0] === null) {
        // Redis lost it (or never had it): whatever generations it had are gone too, and the old values read '' again.
        if (!(await this.createEpoch())) return undefined;
        values = await this.call(this.redis.mget(...keys));
      }
      if (values[0] === null) return undefined; // lost again meanwhile: this load is not stored
      return { keys, values: values.map((value) => value ?? ''), at: performance.now() };
    } catch (error) {
      this.failed('get', error);
      return undefined;
    }
  }

  /**
   * A write, counted as one when refused: a full Redis (noeviction) refuses it as it refuses the stores, and the
   * runbook tells a full Redis by `operation="set"` errors alone. Counted as a read, each load added a `get` error.
   */
  private async createEpoch(): Promise<boolean> {
    try {
      const replaced = await this.call(this.redis.eval(CREATE_EPOCH, 1, GENERATION_EPOCH_KEY, randomUUID()));
      if (replaced === 1) this.logger.warn(`${GENERATION_EPOCH_KEY} was no string (set by hand?): replaced`);
      return true;
    } catch (error) {
      this.failed('set', error);
      return false;
    }
  }

  /** `keepMs`: the entry's TTL and its grace period, through which it stays as a fallback for failed reloads. */
  async write(
    fullKey: string,
    serialised: string,
    keepMs: number,
    stamp: Stamp,
    tags: readonly string[],
  ): Promise<void> {
    if (!this.available() || performance.now() - stamp.at > GENERATION_MAX_LOAD_MS) return;
    try {
      // Members are stored with the client's key prefix: the Lua script deletes them by name.
      const member = `${this.redis.options.keyPrefix ?? ''}${fullKey}`;
      const sets = tags.map((tag) => `${TAG_KEY_PREFIX}${tag}`);
      const keys = [fullKey, ...stamp.keys, ...sets];
      const args = [serialised, keepMs, member, stamp.keys.length, ...stamp.values];
      await this.call(this.redis.eval(STORE_IF_CURRENT, keys.length, ...keys, ...args));
    } catch (error) {
      this.failed('set', error);
    }
  }

  /**
   * False when Redis failed, or is being skipped after a failure: the keys and tags are then pending, and the caller
   * replays them. While Redis is skipped, deletions and messages are still sent, in order on the one connection, but
   * not waited for. Waiting out the timeout for each key and tag of a write on a Redis that had just failed made a
   * profile delete with three photos take about 8 s (with a 300 ms timeout; until 2026-12-05). Not sending them, as
   * from then until 2026-12-07, let a single slow reply (a read of any key that timed out, or the write's own deletion
   * answered late) keep every write of the next second from reaching the other instances, which served the old values
   * from L1 until the replay. Skipped, a write counts as failed all the same (pending, replayed), since nobody knows
   * whether Redis took it; pending deletions are not sent again meanwhile (TieredCache replays them once Redis is no
   * longer skipped). A Redis that is down refuses at once (no offline queue); on a stalled one the commands stay
   * queued in the client until the connection is replaced (two missed pings, redis-client.factory.ts).
   */
  async delete(fullKeys: readonly string[], tags: readonly string[]): Promise<boolean> {
    const sent = this.sendDeletion(fullKeys, tags);
    if (!this.available()) {
      unwaited(sent);
      this.addPending(fullKeys, tags);
      return false;
    }
    try {
      await this.call(sent);
      return true;
    } catch (error) {
      this.failed('delete', error);
      this.addPending(fullKeys, tags);
      return false;
    }
  }

  /** False when Redis failed (counted, but Redis is not skipped for it) or is being skipped (sent, not waited for). */
  async publish(channel: string, message: string): Promise<boolean> {
    const sent = this.redis.publish(channel, message);
    if (!this.available()) return unwaited(sent);
    try {
      await this.call(sent);
      return true;
    } catch {
      this.metrics.l2Error('publish');
      return false;
    }
  }

  private sendDeletion(fullKeys: readonly string[], tags: readonly string[]): Promise<unknown> {
    const scripts: Promise<unknown>[] = [];
    if (fullKeys.length) {
      // The new generations in the same script as the deletion: a load that read before them cannot store after it.
      const keys = [...fullKeys, ...fullKeys.map(keyGeneration)];
      const args = [fullKeys.length, randomUUID(), GENERATION_TTL_MS];
      scripts.push(this.redis.eval(DELETE_KEYS, keys.length, ...keys, ...args));
    }
    // All sent at once, so they reach Redis ahead of any read this instance starts after dropping its L1 entries:
    // sent one after another, a read of a page under a later tag could fetch the old page before that tag's deletion
    // and put it back in L1, where it would answer after the write had.
    for (const tag of tags) {
      const keys = [`${TAG_KEY_PREFIX}${tag}`, tagGeneration(tag)];
      scripts.push(this.redis.eval(DELETE_TAG, 2, ...keys, randomUUID(), GENERATION_TTL_MS));
    }
    return Promise.all(scripts);
  }

  addPending(fullKeys: readonly string[], tags: readonly string[]): void {
    fullKeys.forEach((key) => this.pending.keys.add(key));
    tags.forEach((tag) => this.pending.tags.add(tag));
  }

  /** The pending deletions, which are no longer pending: the caller deletes them again. */
  takePending(): { keys: string[]; tags: string[] } | undefined {
    if (!this.pending.keys.size && !this.pending.tags.size) return undefined;
    const taken = { keys: [...this.pending.keys], tags: [...this.pending.tags] };
    this.pending.keys.clear();
    this.pending.tags.clear();
    return taken;
  }

  /** False for a while after a command failed: Redis is skipped then (L2_BACKOFF_MS). */
  available(): boolean {
    return Date.now() >= this.skipUntil;
  }

  private call<T>(operation: Promise<T>): Promise<T> {
    return withTimeout(operation, this.options.timeoutMs);
  }

  /**
   * Counted; and unless Redis answered with an error of its own (a full Redis refusing a write: OOM), skipped for
   * L2_BACKOFF_MS. A refusal comes back at once and says nothing of the connection: skipping on it made every
   * invalidation pend (deletion and message), and with loads refused every second the replay kept landing in a skip,
   * so peers served the old value from L1 for seconds to minutes while Redis would have taken the deletion.
   */
  private failed(operation: string, error: unknown): void {
    this.metrics.l2Error(operation);
    if (!(error instanceof ReplyError)) this.skipUntil = Date.now() + L2_BACKOFF_MS;
  }
}

/** A command sent while Redis is skipped: its outcome is not waited for, and a failure is no unhandled rejection. */
function unwaited(sent: Promise<unknown>): false {
  sent.catch(() => undefined);
  return false;
}

/**
 * A value that is not an entry (broken JSON, `null`, another shape: written by something else under our key) is a
 * miss, not a Redis failure: counted as one, it made the instance skip Redis for every key, and the load never
 * replaced it, since the write was skipped too.
 */
function parseEntry<T>(raw: string): CacheEntry<T> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  return isEntry<T>(parsed) ? parsed : undefined;
}

function isEntry<T>(value: unknown): value is CacheEntry<T> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entry = value as Partial<CacheEntry<T>>;
  return 'v' in entry && Number.isFinite(entry.exp) && Number.isFinite(entry.d);
}

const keyGeneration = (fullKey: string) => `${GENERATION_KEY_PREFIX}${fullKey}`;
const tagGeneration = (tag: string) => `${GENERATION_KEY_PREFIX}tag:${tag}`;
