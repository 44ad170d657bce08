import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '../config/app-config.js';

// @fastify/cors, which Nest registers, is not a direct dependency; its options type comes through Nest.
type CorsOptions = NonNullable<Parameters<NestFastifyApplication['enableCors']>[0]>;

/**
 * Browsers may call the API from CORS_ORIGINS. No credentials mode: auth is a bearer token, which a
 * page must hold to send, so `*` exposes nothing a cookie would. Preflights are cached for a day (the
 * Vesta report), and clients may read the headers they need to cache, page through ranges, back off and tell a
 * replayed payment answer from a new one (Idempotent-Replayed).
 * An OPTIONS request without Origin or Access-Control-Request-Method (curl, a gateway's probe) gets the same 204:
 * in strict mode the plugin answers it with a plain-text 400 from a hook that runs before our error handling.
 */
export function corsOptions(config: AppConfig): CorsOptions {
  const { origins, maxAgeS } = config.http.cors;
  return {
    origin: origins === '*' ? '*' : origins,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    maxAge: maxAgeS,
    strictPreflight: false,
    exposedHeaders: [
      'ETag',
      'Last-Modified',
      'Content-Range',
      'Accept-Ranges',
      'Location',
      'Retry-After',
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'RateLimit-Reset',
      'RateLimit-Policy',
      'X-Request-Id',
      'Idempotent-Replayed',
    ],
  };
}
