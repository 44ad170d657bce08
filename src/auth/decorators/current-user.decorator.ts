import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AuthenticatedUser } from '../authenticated-user.js';

export type AuthenticatedRequest = FastifyRequest & { user?: AuthenticatedUser };

/** The caller set by JwtAuthGuard; undefined only on @Public() routes called without a token. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedUser | undefined =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().user,
);
