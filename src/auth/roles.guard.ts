import { ForbiddenException, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { routeMetadata } from '../common/metadata/route-metadata.js';
import type { Role } from '../users/user.schema.js';
import type { AuthenticatedRequest } from './decorators/current-user.decorator.js';
import { ROLES_KEY } from './decorators/roles.decorator.js';

/** Runs after JwtAuthGuard; enforces @Roles(...) where present. */
@Injectable()
export class RolesGuard implements CanActivate {
  private readonly roles: (context: ExecutionContext) => Role[] | undefined;

  constructor(reflector: Reflector) {
    this.roles = routeMetadata<Role[]>(reflector, ROLES_KEY);
  }

  canActivate(context: ExecutionContext): boolean {
    const roles = this.roles(context);
    if (!roles?.length) return true;
    const user = context.switchToHttp().getRequest<AuthenticatedRequest>().user;
    if (user && roles.includes(user.role)) return true;
    throw new ForbiddenException(`Requires role: ${roles.join(' or ')}`);
  }
}
