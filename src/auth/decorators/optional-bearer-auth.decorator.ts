import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity } from '@nestjs/swagger';

/**
 * OpenAPI for a public route that uses a token when one is sent (`security: [{}, {bearer: []}]`: anonymous or bearer).
 * Marked public only, a generated client would never send one, and the caller would be served as a stranger.
 */
export const ApiOptionalBearerAuth = (): MethodDecorator & ClassDecorator =>
  applyDecorators(ApiSecurity({}), ApiBearerAuth());
