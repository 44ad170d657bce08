import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RedisThrottlerStorage } from './redis-throttler.storage.js';

/**
 * The tiers that count wrong passwords only. The guard counts every attempt before the password is checked, so that
 * attempts sent together cannot all pass a limit none of them has reached yet; an attempt that was not answered 401
 * (a login) or 403 (a password change) gives its hits back (docs/decisions/0025).
 */
export const FAILED_LOGIN_TIERS: ReadonlySet<string> = new Set(['credentials-account', 'credentials-global']);

const HITS = Symbol('failedLoginHits');
const WRONG_PASSWORD: ReadonlySet<number> = new Set([401, 403]);

type RequestWithHits = FastifyRequest & { [HITS]?: string[] };

/** Notes a hit the guard counted (its storage key), if its tier counts wrong passwords only. */
export function noteHit(request: FastifyRequest, tier: string, key: string): void {
  if (FAILED_LOGIN_TIERS.has(tier)) ((request as RequestWithHits)[HITS] ??= []).push(key);
}

/**
 * Once the reply is over, gives back the hits noted for this request unless it was answered 401 or 403 (a wrong
 * password at login or at a password change; the routes with these tiers send them for nothing else): a success,
 * a 400, a database outage or a 429 from a later tier is no failed login. Judged by the status the client got, so an
 * attempt cut short by the deadline (503) taught nobody anything about the password. An attempt whose client left
 * before the answer keeps its hits: the handler carries on without it, and a password change still goes through,
 * which the caller's token turning 401 reveals, so abandoned attempts would be free guesses. The reply's `close` comes
 * before this connection's next request is read, so the refund reaches Redis before that request's check.
 */
export function refundUnlessLoginFailed(
  request: FastifyRequest,
  reply: FastifyReply,
  storage: RedisThrottlerStorage,
): void {
  const hits = (request as RequestWithHits)[HITS];
  if (!hits) return;
  delete (request as RequestWithHits)[HITS];
  reply.raw.once('close', () => {
    // A response cut off by the client closes unfinished, its status still the default 200.
    if (reply.raw.writableFinished && !WRONG_PASSWORD.has(reply.raw.statusCode)) void storage.refund(hits);
  });
}
