import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { mergeRouteConfig } from '../http/route-config.js';

/**
 * - `public`: catalogue data any cache may keep for HTTP_PUBLIC_MAX_AGE_S.
 * - `private`: differs per caller; the client may keep it but revalidates (ETag → 304) each time.
 * - `no-store`: personal data nobody should keep.
 */
export type CachePolicy = 'public' | 'private' | 'no-store';

const HEADER_VALUES: Record<Exclude<CachePolicy, 'public'>, string> = {
  private: 'private, no-cache',
  'no-store': 'private, no-store',
};

interface CacheControlOptions {
  policy: CachePolicy;
  /** For `public`: overrides HTTP_PUBLIC_MAX_AGE_S, e.g. to match a short server-side TTL. */
  maxAgeS?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    cacheControl?: CacheControlOptions;
  }
}

/**
 * Declares how clients and shared caches may keep this GET's successful response. The policy rides
 * on the Fastify route config and the onSend hook in http-hooks.ts applies it: a Nest interceptor
 * would put an RxJS pipeline on every request of every route (about 8 % of the CPU of a cached read).
 */
export const CacheControl = (policy: CachePolicy, maxAgeS?: number): MethodDecorator =>
  mergeRouteConfig({ cacheControl: { policy, maxAgeS } });

/**
 * The Cache-Control value for this reply, if its route is marked with @CacheControl: successes and
 * 304s only, since an error must never be cached by a browser or CDN. ETags come from @fastify/etag.
 */
export function cacheControlFor(request: FastifyRequest, reply: FastifyReply, config: AppConfig): string | undefined {
  const options = request.routeOptions.config.cacheControl;
  if (!options || reply.statusCode >= 400) return undefined;
  return options.policy === 'public'
    ? `public, max-age=${Math.min(options.maxAgeS ?? Infinity, config.cache.publicMaxAgeS)}`
    : HEADER_VALUES[options.policy];
}
