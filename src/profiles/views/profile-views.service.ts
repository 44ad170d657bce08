import {
  Inject,
  Injectable,
  Logger,
  ServiceUnavailableException,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Types } from 'mongoose';
import { InjectConfig } from '../../config/config.module.js';
import type { AppConfig } from '../../config/app-config.js';
import { REDIS_CLIENT } from '../../redis/redis.constants.js';
import { REPEAT_VIEW_WINDOW_MS, VIEW_KEYS, VIEWERS_KEPT, VIEWERS_TTL_MS } from './profile-views.constants.js';
import { OutageLog } from '../../common/outage-log.js';

/**
 * Notes when each viewer of a profile last looked (the sorted set KEYS[1], scores only ever raised: instances send out
 * of order) and adds to the profile's pending count (hash KEYS[2], field ARGV[1]) the views of those who had not
 * looked in the ARGV[2] ms before. ARGV[3..]: pairs of the view's time (ms) and the viewer's id. Returns what it added.
 */
const COUNT_VIEWERS = `
local counted = 0
for i = 3, #ARGV, 2 do
  local last = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if not last or tonumber(last) <= tonumber(ARGV[i]) - tonumber(ARGV[2]) then counted = counted + 1 end
  redis.call('ZADD', KEYS[1], 'GT', ARGV[i], ARGV[i + 1])
end
if counted > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], counted) end
return counted
`;

/**
 * Bounds a profile's viewers set (KEYS[1]) to ARGV[1] members, dropping the oldest, but none whose view is after ARGV[2]
 * (ms): COUNT_VIEWERS needs those for the repeat-view window. A rank alone dropped, on a profile more than ARGV[1]
 * members viewed within the hour, the ones who had looked minutes before, and their next view counted again.
 */
const TRIM_VIEWERS = `
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if excess <= 0 then return 0 end
local old = redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[2])
local n = math.min(excess, old)
if n > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - 1) end
return n
`;

/** The client and its pipelines, with COUNT_VIEWERS and TRIM_VIEWERS as commands (EVALSHA, loaded once). */
interface ViewsRedis extends Redis {
  pipeline(): ViewsPipeline;
}
type ViewsPipeline = ReturnType<Redis['pipeline']> & {
  countViewers(
    viewersKey: string,
    pendingKey: string,
    profileId: string,
    windowMs: number,
    ...views: (string | number)[]
  ): ViewsPipeline;
  trimViewers(viewersKey: string, kept: number, keepAfterMs: number): ViewsPipeline;
};

/**
 * Counts views in memory and sends the sums to Redis every VIEW_BUFFER_MS in one pipelined round
 * trip (an HINCRBY per profile); the flush job moves them on to MongoDB in batches. A Redis command
 * per view cost about 14 % of the CPU of a cached profile read. HINCRBY is atomic, so instances
 * never lose each other's increments. The price: a killed process loses up to VIEW_BUFFER_MS of its
 * views; a graceful shutdown sends them first. A signed-in member's views of a profile count once per
 * REPEAT_VIEW_WINDOW_MS (COUNT_VIEWERS decides in Redis, where every instance's views of them meet); anonymous views
 * and admins' each count, there being no one to tell apart.
 */
@Injectable()
export class ProfileViewsService implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(ProfileViewsService.name);
  private counts = new Map<string, number>();
  /** profileId → viewer account → when, for "who viewed me" (signed-in viewers only). */
  private viewers = new Map<string, Map<string, number>>();
  private timer?: NodeJS.Timeout;
  /** Redis outages met reading recent viewers (until 2026-12-07 each request during one added a warning). */
  private readonly viewersOutage = new OutageLog(this.logger);

  private readonly redis: ViewsRedis;

  constructor(
    @Inject(REDIS_CLIENT) redis: Redis,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    redis.defineCommand('countViewers', { numberOfKeys: 2, lua: COUNT_VIEWERS });
    redis.defineCommand('trimViewers', { numberOfKeys: 1, lua: TRIM_VIEWERS });
    this.redis = redis as ViewsRedis;
  }

  onModuleInit(): void {
    this.timer = setInterval(() => void this.send(), this.config.queues.viewBufferMs).unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.send();
  }

  /**
   * After the HTTP server has closed, and before the Redis client does (Nest runs this module's shutdown hooks before
   * those of the modules it imports): the views of requests that ended while the server closed. Until 2026-12-04
   * they were lost, the last send having run before the server stopped taking requests.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.send();
  }

  record(profileId: Types.ObjectId, viewerId?: string): void {
    const id = profileId.toHexString();
    if (viewerId === undefined) {
      this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
      return;
    }
    let byViewer = this.viewers.get(id);
    if (!byViewer) this.viewers.set(id, (byViewer = new Map<string, number>()));
    byViewer.set(viewerId, Date.now());
  }

  /**
   * A page of VIEWERS_KEPT of the signed-in viewers of a profile kept (within 30 days), newest first from `offset`,
   * with when they last looked. The set holds more than a page while views inside the repeat window are kept beyond
   * VIEWERS_KEPT (a popular profile's hour).
   */
  async recentViewers(profileId: Types.ObjectId, offset = 0): Promise<{ viewerId: string; viewedAt: Date }[]> {
    const key = VIEW_KEYS.viewers(profileId.toHexString());
    const since = Date.now() - VIEWERS_TTL_MS;
    const read = this.redis.zrevrangebyscore(key, '+inf', since, 'WITHSCORES', 'LIMIT', offset, VIEWERS_KEPT);
    const flat = await read.catch((error: unknown) => {
      // Only Redis holds them: while it is away (a timeout, a closed connection) the list is unavailable, not a bug.
      this.viewersOutage.failed(`Recent viewers unavailable: ${(error as Error).message}`);
      throw new ServiceUnavailableException('Recent viewers are unavailable; retry in a few seconds');
    });
    this.viewersOutage.answered('Recent viewers available again');
    const viewers: { viewerId: string; viewedAt: Date }[] = [];
    for (let i = 0; i < flat.length; i += 2)
      viewers.push({ viewerId: flat[i], viewedAt: new Date(Number(flat[i + 1])) });
    return viewers;
  }

  /**
   * Forgets a deleted profile's views: who viewed it, with when, is personal data of theirs that nothing shows any more,
   * kept otherwise for VIEWERS_TTL_MS. Views another instance still holds are sent after this, and expire with the key.
   * Best effort: with Redis away they stay until then, which is logged.
   */
  async forget(profileId: Types.ObjectId): Promise<void> {
    const id = profileId.toHexString();
    this.counts.delete(id);
    this.viewers.delete(id);
    await this.redis
      .multi()
      .del(VIEW_KEYS.viewers(id))
      .hdel(VIEW_KEYS.pending, id)
      .exec()
      .catch((error: Error) => {
        this.logger.warn(`Views of deleted profile ${id} not forgotten (${error.message}); they expire within 30 days`);
      });
  }

  /**
   * Sends what this instance counted so far. Best effort: with Redis down those views are dropped
   * (and logged), never retried, since a timed-out HINCRBY may have been applied.
   */
  async send(): Promise<void> {
    if (this.counts.size === 0 && this.viewers.size === 0) return;
    const counts = this.counts;
    const viewers = this.viewers;
    this.counts = new Map();
    this.viewers = new Map();
    const pipeline = this.redis.pipeline();
    for (const [id, views] of counts) pipeline.hincrby(VIEW_KEYS.pending, id, views);
    for (const [id, byViewer] of viewers) {
      const key = VIEW_KEYS.viewers(id);
      const viewedAt = [...byViewer].flatMap(([viewerId, at]) => [at, viewerId]);
      pipeline.countViewers(key, VIEW_KEYS.pending, id, REPEAT_VIEW_WINDOW_MS, ...viewedAt);
      // Bounded per profile, each view forgotten after a month (the key's expiry, renewed by every view, ends only a
      // set nobody has viewed since: until 2026-12-04 a profile viewed every month listed visits of months before).
      // Views still inside the repeat window are kept beyond VIEWERS_KEPT (recentViewers lists VIEWERS_KEPT); a view
      // buffered on another instance may be up to VIEW_BUFFER_MS older than now.
      pipeline.trimViewers(key, VIEWERS_KEPT, Date.now() - REPEAT_VIEW_WINDOW_MS - this.config.queues.viewBufferMs);
      pipeline.zremrangebyscore(key, '-inf', `(${Date.now() - VIEWERS_TTL_MS}`);
      pipeline.pexpire(key, VIEWERS_TTL_MS);
    }
    let failed: boolean;
    try {
      const results = await pipeline.exec();
      failed = !results || results.some(([error]) => error !== null);
    } catch {
      failed = true;
    }
    if (failed) {
      // At most: a signed-in member's view may have been one that counts nothing.
      const lost = [...counts.values(), ...[...viewers.values()].map((byViewer) => byViewer.size)];
      const profiles = new Set([...counts.keys(), ...viewers.keys()]).size;
      const views = lost.reduce((sum, n) => sum + n, 0);
      this.logger.warn(`${views} views of ${profiles} profiles not counted: Redis did not take them`);
    }
  }
}
