import type { FastifyReply } from 'fastify';

/** One tier's result for a request: its policy and what the check left of it. */
export interface AppliedLimit {
  limit: number;
  windowS: number;
  remaining: number;
  /** Seconds until the tier lets this caller through again: the rest of its window, or of its block. */
  resetS: number;
  /** A tier that counts wrong passwords only (FAILED_LOGIN_TIERS): an attempt that does not fail gives its hit back. */
  failuresOnly?: boolean;
  /** A tier after the one that refused the request, read without counting it (RateLimitGuard). */
  uncounted?: boolean;
}

/**
 * The tier that RateLimit-Limit, -Remaining and -Reset describe: the one that refused the request, if one did, so that
 * they agree with its Retry-After and with the problem's "at most <limit>"; otherwise the one closest to running out
 * (least remaining, and of two with as little left, the one that resets later: the caller needs both).
 */
export function reportedLimit(applied: readonly AppliedLimit[], refusedBy?: AppliedLimit): AppliedLimit {
  if (refusedBy) return refusedBy;
  return applied.reduce((a, b) =>
    b.remaining < a.remaining || (b.remaining === a.remaining && b.resetS > a.resetS) ? b : a,
  );
}

/**
 * Retry-After of a request `refusedBy` refused: the rest of its block, or longer if another tier that applies has
 * nothing left and resets later: one checked before it (the refused request counted there too), or one after it, read
 * without counting. Told only the block, a client that waited that long was refused again by the other tier (a short
 * search window under a long general one, or the reverse). The failed-login tiers checked before it are left out: a
 * refused attempt gives its hits in them back (failed-login-hits.ts).
 */
export function retryAfterS(applied: readonly AppliedLimit[], refusedBy: AppliedLimit, blockS: number): number {
  const usedUp = applied.filter(
    (limit) => limit !== refusedBy && (!limit.failuresOnly || limit.uncounted) && limit.remaining === 0,
  );
  return Math.max(1, blockS, ...usedUp.map((limit) => limit.resetS));
}

/** The IETF RateLimit headers: one tier in -Limit, -Remaining and -Reset (see reportedLimit), every tier in -Policy. */
export function setRateLimitHeaders(
  reply: FastifyReply,
  applied: readonly AppliedLimit[],
  refusedBy?: AppliedLimit,
): void {
  const reported = reportedLimit(applied, refusedBy);
  void reply
    .header('ratelimit-limit', String(reported.limit))
    .header('ratelimit-remaining', String(reported.remaining))
    .header('ratelimit-reset', String(reported.resetS))
    .header('ratelimit-policy', applied.map((a) => `${a.limit};w=${a.windowS}`).join(', '));
}

/** Headers as a reply holds them (`reply.getHeaders()`) or an injected answer carries them. */
type SentHeaders = Record<string, unknown>;

/**
 * Reports on `reply` the RateLimit headers of the tightest (reportedLimit) of its own and those `answers` were sent
 * with, with every policy in RateLimit-Policy. For a reply whose requests were counted after the guard had set its
 * headers: a batch's items, each counted on top of the batch, left its headers telling the count from before them.
 */
export function reportTightestRateLimit(reply: FastifyReply, answers: readonly SentHeaders[]): void {
  const limited = [reply.getHeaders(), ...answers].filter((headers) => headers['ratelimit-remaining'] !== undefined);
  if (limited.length === 0) return;
  // The window is in the policy only, and plays no part in which limit is reported.
  const reported = reportedLimit(
    limited.map((headers) => ({
      limit: Number(headers['ratelimit-limit']),
      windowS: 0,
      remaining: Number(headers['ratelimit-remaining']),
      resetS: Number(headers['ratelimit-reset']),
    })),
  );
  const policies = new Set(
    limited.flatMap(({ 'ratelimit-policy': policy }) => (typeof policy === 'string' ? policy.split(', ') : [])),
  );
  void reply
    .header('ratelimit-limit', String(reported.limit))
    .header('ratelimit-remaining', String(reported.remaining))
    .header('ratelimit-reset', String(reported.resetS))
    .header('ratelimit-policy', [...policies].join(', '));
}

/** The headers above as OpenAPI describes them, on every answer of a rate-limited operation that documents them. */
export const RATE_LIMIT_HEADERS = {
  'RateLimit-Limit': {
    description: 'Requests allowed per window by the limit closest to running out (on a 429: the limit that refused)',
    schema: { type: 'integer' },
  },
  'RateLimit-Remaining': { description: 'Requests left in that window', schema: { type: 'integer' } },
  'RateLimit-Reset': {
    description: 'Seconds until that window ends (after a 429: until the refusal ends)',
    schema: { type: 'integer' },
  },
  'RateLimit-Policy': {
    description: 'Every limit that applied, as <limit>;w=<window in seconds>, comma-separated',
    schema: { type: 'string', example: '100;w=900, 10;w=900' },
  },
};
