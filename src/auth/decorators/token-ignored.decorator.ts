import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';

export const IGNORES_TOKEN = 'vesta:ignoresToken';

/** `x-token-ignored: true` on an operation: the OpenAPI document lists no 401 for it (see openapi.ts). */
export const TOKEN_IGNORED_EXTENSION = 'x-token-ignored';

/**
 * For routes whose callers are not members, such as a payment provider's webhooks, which their signature
 * authenticates, and the health probes, or are not signed in yet (login, registration): no token is needed, and an
 * Authorization header is not read at all. @Public()
 * would check a header that is sent, so a provider that adds its own (Basic credentials, a token of its own) would get
 * a 401 on every delivery, and its events would be lost.
 */
export const TokenIgnored = (): MethodDecorator & ClassDecorator =>
  applyDecorators(SetMetadata(IGNORES_TOKEN, true), ApiExtension(TOKEN_IGNORED_EXTENSION, true));
