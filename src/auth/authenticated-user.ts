import type { Role } from '../users/user.schema.js';

/** The caller, as proven by a verified access token. */
export interface AuthenticatedUser {
  id: string;
  role: Role;
}

export function canActFor(user: AuthenticatedUser, ownerId: string): boolean {
  return user.role === 'admin' || user.id === ownerId;
}
