import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JwtService } from '@nestjs/jwt';
import { LRUCache } from 'lru-cache';
import { routeMetadata } from '../common/metadata/route-metadata.js';
import { isObjectIdHex } from '../database/object-id.js';
import { ROLES, type Role } from '../users/user.schema.js';
import type { AuthenticatedRequest } from './decorators/current-user.decorator.js';
import { IS_PUBLIC } from './decorators/public.decorator.js';

interface AccessTokenClaims {
  sub: string;
  role: Role;
  exp: number;
}

/** Recently verified tokens: the same token string always verifies the same way until it expires. */
const VERIFIED_TOKENS = 10_000;

/**
 * Global guard: every route needs a valid bearer token unless marked @Public(). On public routes a
 * valid token still identifies the caller (e.g. to show hidden profiles to their owner); an invalid
 * one is rejected rather than silently ignored.
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  // Verifying a JWT is most of an authenticated cache hit's CPU; clients reuse their token for minutes.
  private readonly verified = new LRUCache<string, { user: { id: string; role: Role }; expiresAtMs: number }>({
    max: VERIFIED_TOKENS,
  });

  private readonly isPublic: (context: ExecutionContext) => boolean | undefined;

  constructor(
    private readonly jwt: JwtService,
    reflector: Reflector,
  ) {
    this.isPublic = routeMetadata<boolean>(reflector, IS_PUBLIC);
  }

  /** Synchronous for a token verified before (the common case), so most requests await nothing here. */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);

    if (token === undefined) {
      if (this.isPublic(context)) return true;
      throw new UnauthorizedException('A bearer token is required');
    }
    const known = this.verified.get(token);
    if (known && known.expiresAtMs > Date.now()) {
      request.user = known.user;
      return true;
    }
    return this.verify(token).then((user) => {
      request.user = user;
      return true;
    });
  }

  private async verify(token: string): Promise<{ id: string; role: Role }> {
    try {
      // The algorithm is pinned in AuthModule (HS256): "none" and RS/ES tokens are rejected.
      const claims = await this.jwt.verifyAsync<AccessTokenClaims>(token);
      // Routes turn `sub` into an ObjectId; a token without `exp` would never expire.
      if (!isObjectIdHex(claims.sub) || !ROLES.includes(claims.role) || !Number.isFinite(claims.exp)) {
        throw new Error('malformed claims');
      }
      const user = { id: claims.sub, role: claims.role };
      this.verified.set(token, { user, expiresAtMs: claims.exp * 1000 });
      return user;
    } catch {
      throw new UnauthorizedException('The access token is invalid or expired');
    }
  }
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // The scheme is case-insensitive (RFC 9110, section 11.1).
  const match = /^Bearer +([\w-]+\.[\w-]+\.[\w-]*)$/i.exec(header);
  if (!match) throw new UnauthorizedException('Authorization must be "Bearer <JWT>"');
  return match[1];
}
