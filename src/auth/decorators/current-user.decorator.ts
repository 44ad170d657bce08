import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AuthenticatedUser } from '../authenticated-user.js';
import type { TokenSession } from '../session-state.js';

/** A request as JwtAuthGuard leaves it: the caller and the session of their token, when a valid token came. */
export type AuthenticatedRequest = FastifyRequest & { user?: AuthenticatedUser; session?: TokenSession };

/** The caller set by JwtAuthGuard; undefined only on @Public() routes called without a token. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): AuthenticatedUser | undefined =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().user,
);

/** The session of the caller's token (set with CurrentUser); undefined only where CurrentUser is. */
export const CurrentSession = createParamDecorator(
  (_data: unknown, context: ExecutionContext): TokenSession | undefined =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().session,
);
