import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import { withTimeout } from '../common/with-timeout.js';
import { FAILED_LOGIN_TIERS } from './failed-login-hits.js';
import type { CheckAnswer, LocalThrottleCounts, PeekAnswer } from './local-throttle-counts.js';

/**
 * One atomic check per request: count the hit, start the window on the first one, and block the
 * key once it passes the limit. INCR inside one script makes the count exact however many
 * instances and requests race; ioredis sends it by SHA (EVALSHA) after the first call.
 * A block holds the limit it was set under: once an operator raises the limit, the block no longer
 * holds and the hit is counted against the new limit (which blocks again if the count is still over it).
 * A window starts whenever the counter has no expiry, not only on the first hit: one that lost it (copied to another
 * Redis by a tool that drops TTLs, a PERSIST or a SET by hand) never ended, and once past the limit every request
 * after a block set another, refusing the client for ever. A block without an expiry holds nothing and is removed.
 * A counter INCR refuses (no whole number, another type: set by hand) starts again from this hit, and a block of
 * another type holds nothing: the script failed on them on every request, and the client was counted in memory, where
 * any other check Redis answered cleared its count (RedisThrottlerStorage.recovered, until 2026-12-08), so it was never
 * limited.
 * Returns [hits, ms left in the window, blocked (0/1), ms left in the block, counter replaced (0/1)].
 */
const CHECK = `
local block_ttl = redis.call('PTTL', KEYS[2])
if block_ttl == -1 then redis.call('DEL', KEYS[2]) end
if block_ttl > 0 and (tonumber(redis.pcall('GET', KEYS[2])) or 0) >= tonumber(ARGV[2]) then
  return { tonumber(redis.pcall('GET', KEYS[1])) or tonumber(ARGV[2]), redis.call('PTTL', KEYS[1]), 1, block_ttl }
end
local replaced = 0
local hits = redis.pcall('INCR', KEYS[1])
if type(hits) == 'table' then
  redis.call('DEL', KEYS[1])
  hits = redis.call('INCR', KEYS[1])
  replaced = 1
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return { hits, ttl, 1, tonumber(ARGV[3]), replaced }
end
return { hits, ttl, 0, 0, replaced }`;

/**
 * The check of the tiers that count wrong passwords only (FAILED_LOGIN_TIERS). Attempts are counted before their
 * outcome is known and given back if they did not fail, so a count at the limit may be made of attempts still in
 * flight that will succeed: at the limit an attempt is refused without being counted and without a block, and the
 * refusal lifts as soon as refunds bring the count below the limit (or the window ends). With CHECK, a burst of
 * correct logins set a block that refunds could not lift, locking the member out for the whole window.
 * A counter without an expiry (see CHECK) gets a window from now: at the limit, it refused the member for ever. One
 * that is no whole number of hits, or of another type, starts again (see CHECK).
 * Returns what CHECK returns; the "block" is the rest of the window.
 */
const CHECK_FAILURES = `
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local replaced = 0
local stored = redis.pcall('GET', KEYS[1])
local hits = 0
if stored then
  hits = type(stored) == 'string' and string.match(stored, '^%d+$') and #stored < 16 and tonumber(stored)
  if not hits then
    redis.call('DEL', KEYS[1])
    hits = 0
    replaced = 1
  end
end
if hits >= tonumber(ARGV[2]) then
  local ttl = redis.call('PTTL', KEYS[1])
  return { hits, ttl, 1, ttl, replaced }
end
hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { hits, redis.call('PTTL', KEYS[1]), 0, 0, replaced }`;

/**
 * Takes back one hit from each hits key that still counts any; KEYS holds each tracker's hits key followed by its block
 * key. A key that has expired is left alone, so a refund never creates a key (it would have no expiry) nor takes a
 * count below zero. DECR keeps the key's expiry. A block is lifted once the hits given back leave room under the limit
 * it was set under: the attempts that passed the limit were refused only because of attempts that, given back, no
 * longer count (logins the password hashing bound turned away unchecked, with a 503 asking for a retry in 5 s).
 */
const REFUND = `
for i = 1, #KEYS, 2 do
  if (tonumber(redis.pcall('GET', KEYS[i])) or 0) > 0 then
    local hits = redis.call('DECR', KEYS[i])
    local blocked_under = tonumber(redis.pcall('GET', KEYS[i + 1]))
    if blocked_under and hits < blocked_under then redis.call('DEL', KEYS[i + 1]) end
  end
end
return 0`;

/**
 * Reads what CHECK and CHECK_FAILURES would find, without counting or changing anything: KEYS holds each tracker's hits
 * key followed by its block key, ARGV each tracker's limit, whether its tier refuses without blocks (1/0) and its
 * window in ms. A counter without an expiry reads as a full window (CHECK would give it one), one that is no whole
 * number as no hits (CHECK would start it again), and a block only while it holds under the limit.
 * Returns one [hits, ms left in the window, ms left in the block] per tracker.
 */
const PEEK = `
local answers = {}
for i = 1, #KEYS, 2 do
  local j = (i - 1) / 2 * 3
  local limit, failures_only, ttl = tonumber(ARGV[j + 1]), ARGV[j + 2] == '1', tonumber(ARGV[j + 3])
  local stored = redis.pcall('GET', KEYS[i])
  local hits = type(stored) == 'string' and string.match(stored, '^%d+$') and tonumber(stored) or 0
  local window = redis.call('PTTL', KEYS[i])
  if window == -1 then window = ttl elseif window < 0 then window = 0 end
  local block = 0
  if not failures_only then
    local block_ttl = redis.call('PTTL', KEYS[i + 1])
    if block_ttl > 0 and (tonumber(redis.pcall('GET', KEYS[i + 1])) or 0) >= limit then block = block_ttl end
  end
  answers[#answers + 1] = { hits, window, block }
end
return answers`;

/** A tracker's hit counter: `increment` counts into it and `refund` takes back from it, so both name it here. */
const hitsKey = (key: string) => `throttle:${key}:hits`;
/** A tracker's block, beside its hit counter: set by `increment`, lifted by `refund`. */
const blockKey = (key: string) => `throttle:${key}:block`;

/**
 * Once checks have failed for this long with no answer in between, Redis is treated as down. A single slow
 * moment (a stall that times out one burst of checks) sends only the checks it caught to the local counts;
 * the next request is checked in Redis again.
 */
const SUSPEND_AFTER_FAILING_MS = 250;
/**
 * While Redis is down, skip it this long between attempts: a black-holed Redis must not cost every request the
 * timeout.
 */
const SUSPENSION_MS = 1_000;

/** CHECK's and CHECK_FAILURES' answer: a CheckAnswer, and whether the hits key held no count and was replaced. */
type RedisCheckAnswer = readonly [...CheckAnswer, replaced: 0 | 1];

interface ThrottleRedis extends Redis {
  throttleCheck(
    hitsKey: string,
    blockKey: string,
    ttlMs: number,
    limit: number,
    blockMs: number,
  ): Promise<RedisCheckAnswer>;
  throttleCheckFailures(hitsKey: string, ttlMs: number, limit: number): Promise<RedisCheckAnswer>;
  throttleRefund(numberOfKeys: number, ...hitsAndBlockKeys: string[]): Promise<number>;
  throttlePeek(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<PeekAnswer[]>;
}

/** @nestjs/throttler's storage record, plus where the hit was counted, so that a refund takes it back there. */
export interface RateLimitRecord {
  totalHits: number;
  /** Seconds left in the window. */
  timeToExpire: number;
  isBlocked: boolean;
  /** Seconds left in the block. */
  timeToBlockExpire: number;
  /** Counted in this instance's memory because Redis did not answer. */
  countedLocally: boolean;
}

/** A tier to read without counting (PEEK): its key as `increment` would take it, its ttl in ms and its limit. */
export interface PeekedTier {
  key: string;
  ttl: number;
  limit: number;
  throttlerName: string;
}

/** A hit to give back: its key as `increment` took it, and where `increment` counted it. */
export interface CountedHit {
  key: string;
  countedLocally: boolean;
}

export interface RateLimitMetrics {
  rejected: Counter<'throttler'>;
  countedLocally: Counter;
}

/**
 * Throttler storage shared by all instances through Redis. With Redis down, slow or black-holed, a check gives up
 * after `timeoutMs` (THROTTLE_REDIS_TIMEOUT_MS) and is counted in this instance's memory instead (LocalThrottleCounts,
 * with the same rules), so every tier still limits, per instance (docs/decisions/0030). After SUSPEND_AFTER_FAILING_MS
 * of failures Redis is only tried once a second; when it answers again its counts hold: each check it answers drops
 * that tracker's count in memory, or keeps Redis's refusal there for a stall to come. The timeout is withTimeout's,
 * which does not fire while an answer waits unread behind our own busy event loop (a burst of requests must not move
 * counting off Redis); the client's own command timeout is only a backstop.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger(RedisThrottlerStorage.name);
  private readonly redis: ThrottleRedis;
  private skipUntil = 0;
  /** When the current run of failed checks began; 0 while Redis answers. */
  private failingSince = 0;

  constructor(
    redis: Redis,
    private readonly local: LocalThrottleCounts,
    private readonly metrics: RateLimitMetrics,
    private readonly timeoutMs: number,
  ) {
    redis.defineCommand('throttleCheck', { numberOfKeys: 2, lua: CHECK });
    redis.defineCommand('throttleCheckFailures', { numberOfKeys: 1, lua: CHECK_FAILURES });
    redis.defineCommand('throttleRefund', { lua: REFUND });
    redis.defineCommand('throttlePeek', { lua: PEEK });
    this.redis = redis as ThrottleRedis;
  }

  /** `ttl` and `blockDuration` in ms (as @nestjs/throttler passes them); the record's times are in seconds. */
  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<RateLimitRecord> {
    const failuresOnly = FAILED_LOGIN_TIERS.has(throttlerName);
    if (Date.now() >= this.skipUntil) {
      try {
        const answer = await withTimeout(
          failuresOnly
            ? this.redis.throttleCheckFailures(hitsKey(key), ttl, limit)
            : this.redis.throttleCheck(hitsKey(key), blockKey(key), ttl, limit, blockDuration),
          this.timeoutMs,
        );
        this.recovered();
        if (answer[4] === 1) this.logger.warn(`${hitsKey(key)} held no count of hits (set by hand?): replaced`);
        // CHECK_FAILURES refuses without a block (its "block" is the rest of the window): its count refuses in memory.
        this.local.follow(key, [answer[0], answer[1], answer[2], answer[3]], limit, !failuresOnly);
        return this.record([answer[0], answer[1], answer[2], answer[3]], throttlerName, false);
      } catch (error) {
        this.failed(error as Error);
      }
    }
    this.metrics.countedLocally.inc();
    const answer = failuresOnly
      ? this.local.checkFailures(key, ttl, limit)
      : this.local.check(key, ttl, limit, blockDuration);
    return this.record(answer, throttlerName, true);
  }

  /**
   * Takes back one hit each, where it was counted; in Redis within the same timeout. If Redis does not answer, those
   * hits stay counted: the limit is then stricter for a while, never looser. A hit counted locally before Redis
   * answered again is gone with the local counts already.
   */
  async refund(hits: readonly CountedHit[]): Promise<void> {
    this.local.refund(hits.filter((hit) => hit.countedLocally).map((hit) => hit.key));
    const inRedis = hits.filter((hit) => !hit.countedLocally).flatMap((hit) => [hitsKey(hit.key), blockKey(hit.key)]);
    if (inRedis.length === 0 || Date.now() < this.skipUntil) return;
    try {
      await withTimeout(this.redis.throttleRefund(inRedis.length, ...inRedis), this.timeoutMs);
      this.recovered();
      // Not given back in memory: the count there may be hits of a stall that Redis never saw. A refusal kept there
      // stays until the client's next check Redis answers, which drops it: stricter for that while, never looser.
    } catch (error) {
      this.failed(error as Error);
    }
  }

  /**
   * What each tier holds for its tracker, in one script that counts nothing: for a refused request, the tiers its
   * refusal left unchecked (RateLimitGuard). While Redis does not answer, the counts in memory, where checks go then.
   */
  async peek(tiers: readonly PeekedTier[]): Promise<PeekAnswer[]> {
    const inMemory = () =>
      tiers.map(({ key, limit, throttlerName }) => this.local.peek(key, limit, FAILED_LOGIN_TIERS.has(throttlerName)));
    if (tiers.length === 0 || Date.now() < this.skipUntil) return inMemory();
    const keys = tiers.flatMap(({ key }) => [hitsKey(key), blockKey(key)]);
    const args = tiers.flatMap(({ limit, ttl, throttlerName }) => [
      limit,
      FAILED_LOGIN_TIERS.has(throttlerName) ? 1 : 0,
      ttl,
    ]);
    try {
      const answers = await withTimeout(this.redis.throttlePeek(keys.length, ...keys, ...args), this.timeoutMs);
      this.recovered();
      return answers;
    } catch (error) {
      this.failed(error as Error);
      return inMemory();
    }
  }

  private record(
    [hits, windowMs, blocked, blockMs]: CheckAnswer,
    throttlerName: string,
    countedLocally: boolean,
  ): RateLimitRecord {
    if (blocked === 1) this.metrics.rejected.inc({ throttler: throttlerName });
    return {
      totalHits: hits,
      // RateLimit-Reset: a caller who is blocked gets nothing until the block ends, even if the window ended first.
      timeToExpire: Math.ceil(Math.max(0, windowMs, blocked === 1 ? blockMs : 0) / 1000),
      isBlocked: blocked === 1,
      timeToBlockExpire: Math.ceil(blockMs / 1000),
      countedLocally,
    };
  }

  private failed(error: Error): void {
    const now = Date.now();
    // Without an answer in between, two failures minutes apart count as one run: Redis may have been down all along.
    if (this.failingSince === 0) this.failingSince = now;
    if (now - this.failingSince < SUSPEND_AFTER_FAILING_MS) return;
    if (this.skipUntil < this.failingSince) {
      this.logger.warn(
        `Rate limits counted in this instance's memory: Redis failing for ${now - this.failingSince} ms (${error.message})`,
      );
    }
    this.skipUntil = now + SUSPENSION_MS;
  }

  /**
   * Redis answers again: its counts hold from now on. Each check it answers drops its tracker's count in memory, or
   * keeps Redis's refusal there (increment); adding the local counts to Redis's would count twice the checks that timed
   * out but still reached Redis. The trackers of other clients are kept: they apply only to checks Redis does not
   * answer. Dropped at every answer to any client's check (until 2026-12-08), a client Redis refused was counted from
   * nothing in memory in each stall, and got its limit again there every time.
   */
  private recovered(): void {
    if (this.failingSince === 0) return;
    if (this.skipUntil >= this.failingSince) this.logger.log('Rate limits counted in Redis again: Redis answers');
    this.failingSince = 0;
    // An answer to a check sent before the suspension began also ends it.
    this.skipUntil = 0;
  }
}
