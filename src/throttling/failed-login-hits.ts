import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CountedHit, RedisThrottlerStorage } from './redis-throttler.storage.js';

/**
 * The tiers that count wrong passwords only. The guard counts every attempt before the password is checked, so that
 * attempts sent together cannot all pass a limit none of them has reached yet; an attempt that was not answered 401
 * (a login) or 403 (a password change) gives its hits back (docs/decisions/0025).
 */
export const FAILED_LOGIN_TIERS: ReadonlySet<string> = new Set(['credentials-account', 'credentials-global']);
/**
 * The tier that counts every attempt from an address, answered or not: only an attempt refused before its password was
 * checked gives its hit back.
 */
const ATTEMPTS_TIER = 'credentials';

const HITS = Symbol('credentialsHits');
const UNCHECKED = Symbol('passwordUnchecked');
const WRONG_PASSWORD: ReadonlySet<number> = new Set([401, 403]);

interface NotedHit {
  tier: string;
  hit: CountedHit;
}
type RequestWithHits = FastifyRequest & { [HITS]?: NotedHit[]; [UNCHECKED]?: true };

/** Whether an attempt answered with `status` gives back its failed-login hits (see refundUnlessLoginFailed). */
export const givesBackFailedLogins = (status: number): boolean => status < 500 && !WRONG_PASSWORD.has(status);

/**
 * Marks an attempt refused before its password was checked (the password hashing bound's 503, or a request that left
 * the bound's queue because its client gave up): it tells the client nothing about the password, so it gives back all
 * its credentials hits, its address's attempt too. Kept, every refusal during a burst of logins would count as a wrong
 * password and lock its member out, and a client retrying after Retry-After (5 s) would use up its address's
 * THROTTLE_CREDENTIALS_LIMIT within a minute of refusals. Given back, they also lift a block that attempts sent
 * alongside them set (see REFUND).
 */
export function markPasswordUnchecked(request: FastifyRequest): void {
  (request as RequestWithHits)[UNCHECKED] = true;
}

/** Notes a hit the guard counted (its storage key, and where it was counted), if its tier is a credentials tier. */
export function noteHit(request: FastifyRequest, tier: string, hit: CountedHit): void {
  if (FAILED_LOGIN_TIERS.has(tier) || tier === ATTEMPTS_TIER)
    ((request as RequestWithHits)[HITS] ??= []).push({ tier, hit });
}

/**
 * Once the reply is over, gives back the failed-login hits noted for this request if it was answered with a success or
 * a 4xx other than 401 or 403 (a wrong password at login or at a password change; the routes with these tiers send
 * them for nothing else): a 400 or a 429 from a later tier is no failed login. An attempt marked by
 * markPasswordUnchecked() gives back every credentials hit, its address's attempt too. Attempts that may have checked a
 * password without the client learning how keep their hits: one whose client left before the answer, and one answered
 * 5xx otherwise. In both the handler may carry on (a 503 at the request deadline does not stop it), and a password
 * change that goes through shows in the caller's token turning 401, so refunding them would make free guesses (an
 * attacker can slow the hashing down past the deadline). A database outage therefore costs members a try each. The
 * reply's `close` comes before this connection's next request is read, so the refund reaches Redis (or the local
 * counts) before that request's check.
 */
export function refundUnlessLoginFailed(
  request: FastifyRequest,
  reply: FastifyReply,
  storage: RedisThrottlerStorage,
): void {
  const noted = (request as RequestWithHits)[HITS];
  if (!noted) return;
  delete (request as RequestWithHits)[HITS];
  const giveBack = (answered: boolean) => {
    const unchecked = (request as RequestWithHits)[UNCHECKED] === true;
    const back = noted.filter(({ tier }) => unchecked || (answered && FAILED_LOGIN_TIERS.has(tier)));
    if (back.length > 0) void storage.refund(back.map(({ hit }) => hit));
  };
  reply.raw.once('close', () => {
    // A response cut off by the client closes unfinished, its status still the default 200; read now, as it closes,
    // not once the handler that went on without its client has set another.
    if (reply.raw.writableFinished) return giveBack(givesBackFailedLogins(reply.raw.statusCode));
    // The client left: the same `close` makes a request waiting for a password hashing slot leave the queue, and the
    // error that marks it unchecked reaches the route's interceptor only once this event is over. No next request
    // comes on a closed connection, so waiting for it costs nothing.
    setImmediate(() => giveBack(false));
  });
}
