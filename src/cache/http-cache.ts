import { applyDecorators } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
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

/** `x-cache-control` on an operation: the Cache-Control of its successes, which openapi.ts puts on them. */
export const CACHE_CONTROL_EXTENSION = 'x-cache-control';

/**
 * Declares how clients and shared caches may keep this route's successful response. The policy rides
 * on the Fastify route config and the onSend hook in http-hooks.ts applies it: a Nest interceptor
 * would put an RxJS pipeline on every request of every route (about 8 % of the CPU of a cached read).
 */
export const CacheControl = (policy: CachePolicy, maxAgeS?: number): MethodDecorator =>
  applyDecorators(
    mergeRouteConfig({ cacheControl: { policy, maxAgeS } }),
    ApiExtension(CACHE_CONTROL_EXTENSION, documentedCacheControl({ policy, maxAgeS })),
  );

/** The Cache-Control header of a policy's answers, as OpenAPI describes it. */
function documentedCacheControl({ policy, maxAgeS }: CacheControlOptions): object {
  if (policy === 'public') {
    const limit =
      maxAgeS === undefined ? 'HTTP_PUBLIC_MAX_AGE_S' : `the lesser of ${maxAgeS} and HTTP_PUBLIC_MAX_AGE_S`;
    return {
      description: `The same for every caller: any cache may keep it for max-age seconds, ${limit}`,
      schema: { type: 'string', pattern: '^public, max-age=\\d+$', example: 'public, max-age=60' },
    };
  }
  const description =
    policy === 'private'
      ? 'Per caller: a client may keep it, but revalidates it (If-None-Match) before each use'
      : 'Personal: nobody may keep it';
  return { description, schema: { type: 'string', enum: [HEADER_VALUES[policy]] } };
}

/**
 * Every error, on any route. Without a Cache-Control some are cacheable by default (404, 405, 410, 414, 501: RFC 9110
 * §15.1), and shared caches keep them (Varnish two minutes, Fastly an hour): an anonymous "not found" for a profile
 * hidden or not created yet could go on answering for it there after it became visible.
 */
export const ERROR_CACHE_CONTROL = 'no-store';

/** Cache-Control as OpenAPI describes it on every error answer. */
export const ERROR_CACHE_CONTROL_HEADER = {
  'Cache-Control': {
    description: 'No cache may keep an error',
    schema: { type: 'string', enum: [ERROR_CACHE_CONTROL] },
  },
};

/**
 * The Vary value for a success of a route with a policy. A `public` reply is the same for every caller, and mobile and
 * web clients send their token on every request: varying it on Authorization made shared caches keep one copy per
 * token, so a CDN served none of it to signed-in members. A per-caller reply varies on it, so that a browser's cache
 * does not answer one account with another's copy. In lower case (field names are case-insensitive): @fastify/compress,
 * which runs after this, looks for `accept-encoding` spelt so and otherwise adds it a second time.
 */
export function varyFor(request: FastifyRequest): string {
  return request.routeOptions.config.cacheControl?.policy === 'public'
    ? 'accept-encoding'
    : 'authorization, accept-encoding';
}

/**
 * `vary` (lower-case field names) added to the Vary a reply already has, each field name once, all in lower case.
 * @fastify/cors sets `Vary: Origin` in onRequest when CORS_ORIGINS lists origins, since Access-Control-Allow-Origin
 * then names the caller's origin: replacing it let a browser's or CDN's copy fetched from one origin answer another,
 * whose page the browser then refuses it.
 */
export function withVary(existing: string | number | string[] | undefined, vary: string): string {
  if (existing === undefined) return vary;
  const names = String(existing)
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (names.includes('*')) return '*';
  return [...new Set([...names, ...vary.split(', ')])].join(', ');
}

/**
 * The Cache-Control value for this reply: `no-store` for an error, the route's @CacheControl policy for a success or
 * a 304, none otherwise. ETags come from @fastify/etag.
 */
export function cacheControlFor(request: FastifyRequest, reply: FastifyReply, config: AppConfig): string | undefined {
  if (reply.statusCode >= 400) return ERROR_CACHE_CONTROL;
  const options = request.routeOptions.config.cacheControl;
  if (!options) return undefined;
  return options.policy === 'public'
    ? `public, max-age=${Math.min(options.maxAgeS ?? Infinity, config.cache.publicMaxAgeS)}`
    : HEADER_VALUES[options.policy];
}
