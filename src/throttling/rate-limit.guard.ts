import { Injectable, type ExecutionContext } from '@nestjs/common';
import { ThrottlerException, ThrottlerGuard, type ThrottlerRequest } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { routeMetadata } from '../common/metadata/route-metadata.js';
import { FAILED_LOGIN_TIERS, noteHit, refundUnlessLoginFailed } from './failed-login-hits.js';
import { retryAfterS, setRateLimitHeaders, type AppliedLimit } from './rate-limit-headers.js';
import type { PeekedTier, RateLimitRecord, RedisThrottlerStorage } from './redis-throttler.storage.js';

const APPLIED = Symbol('rateLimitsApplied');
const REFUSAL = Symbol('rateLimitRefusal');
/** The metadata key @SkipThrottle() sets for the tier named "default" (THROTTLER_SKIP + name in @nestjs/throttler). */
const SKIP_DEFAULT_TIER = 'THROTTLER:SKIPdefault';
/** The tier that refused a request, and the tiers after it, to read once the library has been through them all. */
interface Refusal {
  name: string;
  refusedBy: AppliedLimit;
  blockS: number;
  after: (PeekedTier & { windowS: number })[];
}
type TrackedRequest = FastifyRequest & { [APPLIED]?: AppliedLimit[]; [REFUSAL]?: Refusal };

/**
 * A tracker's answer for a tier after a refusal when finding the real one would read the database (a password change's
 * account): the tier is then left unread. Read for Retry-After alone, it cost every refused request a database read,
 * and refused requests are the ones nothing limits.
 */
export const UNREAD_TRACKER = '';
/** Whether a tier of the request already refused it (the tiers after it are only read: handleRequest). */
export const refusedAlready = (request: FastifyRequest): boolean => (request as TrackedRequest)[REFUSAL] !== undefined;

/**
 * @nestjs/throttler's guard with the IETF RateLimit headers instead of X-RateLimit-*: the limit that refused the
 * request, or else the tightest of those that applied, in RateLimit-Limit/-Remaining/-Reset, all of them in
 * RateLimit-Policy, and Retry-After on a 429 (a problem+json body from the global filter).
 * Keys are `<tier>:<client>`, so a limit covers all routes, as the report's limiter does. While Redis does not answer,
 * the headers tell this instance's own counts (docs/decisions/0030): true of this instance, which refuses no client
 * that keeps to them.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private skipsAll?: (context: ExecutionContext) => boolean | undefined;

  /**
   * Checks the tiers in the order ThrottlingModule lists them: per address or caller first, the per-email tiers after
   * them. The library sorts them by window, shortest first; with the per-email tiers on a shorter window (a shorter
   * lockout), a login that the per-address tiers refuse would first have written two Redis keys for whatever email
   * it names, so one client could create keys as fast as it sends requests.
   */
  override async onModuleInit(): Promise<void> {
    const listed = Array.isArray(this.options) ? this.options : this.options.throttlers;
    // The library sorts that array in place.
    const rank = new Map(listed.map((throttler, index) => [throttler.name ?? 'default', index]));
    await super.onModuleInit();
    this.throttlers.sort((a, b) => (rank.get(a.name ?? 'default') ?? 0) - (rank.get(b.name ?? 'default') ?? 0));
  }

  /**
   * `@SkipThrottle()` without arguments skips every tier (the library's default would skip only one named "default").
   */
  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    this.skipsAll ??= routeMetadata<boolean>(this.reflector, SKIP_DEFAULT_TIER);
    return Promise.resolve(this.skipsAll(context) === true);
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const { req, res } = this.getRequestResponse(context) as { req: TrackedRequest; res: FastifyReply };
    let allowed: boolean;
    try {
      allowed = await super.canActivate(context);
    } finally {
      refundUnlessLoginFailed(req, res, this.storageService as RedisThrottlerStorage);
    }
    const refused = req[REFUSAL];
    if (refused) await this.refuse(req, res, refused);
    const applied = req[APPLIED];
    if (applied) setRateLimitHeaders(res, applied);
    return allowed;
  }

  /**
   * Answers a refused request 429. Retry-After (and RateLimit-Reset) covers every tier that applies to it, those after
   * the refusing one too: they are read, without counting the request, in one script on this refused path only. Told
   * only the refusing tier's wait, a client refused by a short general window while its long search window had run
   * out too retried then, and was refused again by the search tier.
   */
  private async refuse(req: TrackedRequest, res: FastifyReply, { name, refusedBy, blockS, after }: Refusal) {
    const storage = this.storageService as RedisThrottlerStorage;
    const states = await storage.peek(after);
    const applied = (req[APPLIED] ??= []);
    after.forEach(({ limit, windowS, throttlerName }, index) => {
      const [hits, windowMs, blockMs] = states[index];
      applied.push({
        limit,
        windowS,
        remaining: blockMs > 0 ? 0 : Math.max(0, limit - hits),
        resetS: Math.ceil(Math.max(windowMs, blockMs) / 1000),
        failuresOnly: FAILED_LOGIN_TIERS.has(throttlerName),
        uncounted: true,
      });
    });
    const retryAfter = retryAfterS(applied, refusedBy, blockS);
    // On a 429, RateLimit-Reset tells at least the wait Retry-After tells (docs/operations.md): until a retry passes.
    refusedBy.resetS = Math.max(refusedBy.resetS, retryAfter);
    setRateLimitHeaders(res, applied, refusedBy);
    void res.header('retry-after', String(retryAfter));
    throw new ThrottlerException(refusal(name, refusedBy.limit, refusedBy.windowS));
  }

  protected override async handleRequest(request: ThrottlerRequest): Promise<boolean> {
    const { context, limit, ttl, throttler, blockDuration, getTracker, generateKey } = request;
    const name = throttler.name ?? 'default';
    const req = context.switchToHttp().getRequest<TrackedRequest>();
    const tracker = await getTracker(req, context);
    const key = generateKey(context, tracker, name);
    const windowS = Math.round(ttl / 1000);
    const refused = req[REFUSAL];
    if (refused) {
      // A tier after the one that refused: not counted (so a login the address's limits refuse writes no key for its
      // email), only read for Retry-After once every tier has been through here (canActivate).
      if (tracker !== UNREAD_TRACKER) refused.after.push({ key, ttl, limit, throttlerName: name, windowS });
      return false;
    }
    const record = (await this.storageService.increment(key, ttl, limit, blockDuration, name)) as RateLimitRecord;

    const applied = (req[APPLIED] ??= []);
    const result = {
      limit,
      windowS,
      remaining: Math.max(0, limit - record.totalHits),
      resetS: record.timeToExpire,
      failuresOnly: FAILED_LOGIN_TIERS.has(name),
    };
    applied.push(result);
    if (record.isBlocked) {
      req[REFUSAL] = { name, refusedBy: result, blockS: record.timeToBlockExpire, after: [] };
      return false;
    }
    noteHit(req, name, { key, countedLocally: record.countedLocally });
    return true;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, throttlerName: string): string {
    return `${throttlerName}:${tracker}`;
  }
}

/**
 * The problem's detail for a tier's refusal. The failed-login tiers count wrong passwords, not requests: "at most 3
 * requests per 900 s" told a member refused after one attempt (the others made from their address by someone else, or
 * correct logins in between that count nothing) that they had sent too many requests, and not what to do.
 */
function refusal(tier: string, limit: number, windowS: number): string {
  if (tier === 'credentials-account') {
    return `Too many wrong passwords for this account from this address: at most ${limit} per ${windowS} s`;
  }
  if (tier === 'credentials-global') {
    return `Too many wrong passwords for this account from all addresses: at most ${limit} per ${windowS} s`;
  }
  return `Rate limit exceeded: at most ${limit} requests per ${windowS} s`;
}

/**
 * Sends the RateLimit headers again for an attempt that turned out not to be a failed login (a success, a 400): it gives
 * its hits in the failed-login tiers back once answered (refundUnlessLoginFailed), so they count it no more. Set by the
 * guard before the password was checked, they told every successful login one try less than it had left, and a login
 * after four wrong passwords `RateLimit-Remaining: 0` with a 15-minute reset, which a client that honours the headers
 * takes as "wait" while its member's next try would pass.
 */
export function reportFailedLoginsGivenBack(request: FastifyRequest, reply: FastifyReply): void {
  const applied = (request as TrackedRequest)[APPLIED];
  if (!applied?.some((limit) => limit.failuresOnly)) return;
  setRateLimitHeaders(
    reply,
    applied.map((limit) =>
      limit.failuresOnly ? { ...limit, remaining: Math.min(limit.limit, limit.remaining + 1) } : limit,
    ),
  );
}
