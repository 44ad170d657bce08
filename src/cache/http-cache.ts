import { Injectable, SetMetadata, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply } from 'fastify';
import { tap, type Observable } from 'rxjs';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';

export const CACHE_CONTROL = 'vesta:cache-control';

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

/** Declares how clients and shared caches may keep this GET's successful response. */
export const CacheControl = (policy: CachePolicy, maxAgeS?: number): MethodDecorator =>
  SetMetadata(CACHE_CONTROL, { policy, maxAgeS } satisfies CacheControlOptions);

/** Sets Cache-Control on successful responses of routes marked with @CacheControl. ETags come from @fastify/etag. */
@Injectable()
export class CacheControlInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const options = this.reflector.get<CacheControlOptions | undefined>(CACHE_CONTROL, context.getHandler());
    if (!options) return next.handle();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const value =
      options.policy === 'public'
        ? `public, max-age=${Math.min(options.maxAgeS ?? Infinity, this.config.cache.publicMaxAgeS)}`
        : HEADER_VALUES[options.policy];
    // On success only: an error must never be cached by a browser or CDN.
    return next
      .handle()
      .pipe(tap(() => void reply.header('cache-control', value).header('vary', 'Authorization, Accept-Encoding')));
  }
}
