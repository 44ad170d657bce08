import { applyDecorators } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';

/** `x-rate-limited: false` on an operation: the OpenAPI document lists no 429 for it (see openapi.ts). */
export const RATE_LIMITED_EXTENSION = 'x-rate-limited';

/**
 * Leaves a controller or route out of rate limiting (every tier, see RateLimitGuard), and says so in the OpenAPI
 * document, which otherwise lists a 429 on every /v1 operation.
 */
export const NotRateLimited = () => applyDecorators(SkipThrottle(), ApiExtension(RATE_LIMITED_EXTENSION, false));
