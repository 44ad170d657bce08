import { Injectable, SetMetadata, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply } from 'fastify';
import type { Observable } from 'rxjs';
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

/** Declares how clients and shared caches may keep this GET's response. */
export const CacheControl = (policy: CachePolicy): MethodDecorator => SetMetadata(CACHE_CONTROL, policy);

/** Sets Cache-Control on successful responses of routes marked with @CacheControl. ETags come from @fastify/etag. */
@Injectable()
export class CacheControlInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const policy = this.reflector.get<CachePolicy | undefined>(CACHE_CONTROL, context.getHandler());
    if (policy) {
      const reply = context.switchToHttp().getResponse<FastifyReply>();
      const value = policy === 'public' ? `public, max-age=${this.config.cache.publicMaxAgeS}` : HEADER_VALUES[policy];
      void reply.header('cache-control', value).header('vary', 'Authorization, Accept-Encoding');
    }
    return next.handle();
  }
}
