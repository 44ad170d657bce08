import { SetMetadata } from '@nestjs/common';
import type { Role } from '../../users/user.schema.js';

export const ROLES_KEY = 'vesta:roles';

/** Restricts a route to callers holding one of the roles. */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES_KEY, roles);
