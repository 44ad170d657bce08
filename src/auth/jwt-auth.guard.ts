import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { JwtService } from '@nestjs/jwt';
import { LRUCache } from 'lru-cache';
import { routeMetadata } from '../common/metadata/route-metadata.js';
import { isObjectIdHex } from '../database/object-id.js';
import { ROLES, type Role } from '../users/user.schema.js';
import type { AuthenticatedUser } from './authenticated-user.js';
import type { AuthenticatedRequest } from './decorators/current-user.decorator.js';
import { IS_PUBLIC } from './decorators/public.decorator.js';
import { IGNORES_TOKEN } from './decorators/token-ignored.decorator.js';
import { isSessionId, sessionIsLive, type AccountSessions, type TokenSession } from './session-state.js';
import { SessionsService } from './sessions.service.js';

export interface AccessTokenClaims {
  sub: string;
  role: Role;
  exp: number;
  /** The account's session version when the token was issued; absent in tokens from before it existed (0). */
  sv?: number;
  /** The session's id (see newSessionId); absent in tokens from before sessions had ids. */
  sid?: string;
}

/** A token that verified: who it names and the session it belongs to. */
interface VerifiedToken {
  user: AuthenticatedUser;
  session: TokenSession;
}

/** Recently verified tokens: the same token string always verifies the same way until it expires. */
const VERIFIED_TOKENS = 10_000;

/**
 * Global guard: every route needs a valid bearer token unless marked @Public() or @TokenIgnored(). On public routes a
 * valid token still identifies the caller (e.g. to show hidden profiles to their owner); an invalid one is rejected
 * rather than silently ignored. @TokenIgnored() routes do not read the header at all. A token is valid only while its
 * session is live: its session version is the account's (logout-all or a password change raises it) and its session
 * was not ended by a logout of its own; checked on every request, remembered tokens included.
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  // Verifying a JWT is most of an authenticated cache hit's CPU; clients reuse their token for minutes.
  private readonly verified = new LRUCache<string, VerifiedToken>({ max: VERIFIED_TOKENS });

  private readonly isPublic: (context: ExecutionContext) => boolean | undefined;
  private readonly ignoresToken: (context: ExecutionContext) => boolean | undefined;

  constructor(
    private readonly jwt: JwtService,
    reflector: Reflector,
    private readonly sessions: SessionsService,
  ) {
    this.isPublic = routeMetadata<boolean>(reflector, IS_PUBLIC);
    this.ignoresToken = routeMetadata<boolean>(reflector, IGNORES_TOKEN);
  }

  /**
   * Synchronous for a token verified before whose account's sessions this instance holds in memory (the common
   * case), so most requests await nothing here.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.ignoresToken(context)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);

    if (token === undefined) {
      if (this.isPublic(context)) return true;
      throw new UnauthorizedException('A bearer token is required');
    }
    const known = this.verified.get(token);
    if (known && known.session.expiresAtMs > Date.now()) return this.admit(request, known);
    return this.verify(token).then((verified) => this.admit(request, verified));
  }

  private admit(request: AuthenticatedRequest, token: VerifiedToken): true | Promise<true> {
    const cached = this.sessions.cached(token.user.id);
    // Signed with a newer version than this instance holds: the logout-all or password change that raised it happened
    // on another instance, and its invalidation has not arrived yet (or cannot, with Redis down). So ask again.
    const behind = cached != null && token.session.version > cached.version;
    if (cached !== undefined && !behind) return this.accept(request, token, cached);
    if (behind) this.sessions.forgetCached(token.user.id);
    // A database that fails here is a 503 from the problem filter (one that hangs: the request deadline's 503).
    return this.sessions.current(token.user.id).then((current) => this.accept(request, token, current));
  }

  private accept(request: AuthenticatedRequest, token: VerifiedToken, account: AccountSessions | null): true {
    if (account === null) throw accountGone();
    if (!sessionIsLive(account, token.session)) {
      throw new UnauthorizedException('The access token has been revoked (logout or password change); log in again');
    }
    request.user = token.user;
    request.session = token.session;
    return true;
  }

  private async verify(token: string): Promise<VerifiedToken> {
    try {
      // The algorithm is pinned in AuthModule (HS256): "none" and RS/ES tokens are rejected.
      const claims = await this.jwt.verifyAsync<AccessTokenClaims>(token);
      // Tokens from before session versions carry none: they count as 0, so the deploy logged nobody out. Tokens from
      // before session ids carry no `sid`: they work on, and a logout with one ends every session (AuthService).
      const sessionVersion: unknown = claims.sv === undefined ? 0 : claims.sv;
      // Routes turn `sub` into an ObjectId; a token without `exp` would never expire.
      if (
        !isObjectIdHex(claims.sub) ||
        !ROLES.includes(claims.role) ||
        !Number.isFinite(claims.exp) ||
        !isSessionVersion(sessionVersion) ||
        (claims.sid !== undefined && !isSessionId(claims.sid))
      ) {
        throw new Error('malformed claims');
      }
      const session = { id: claims.sid, version: sessionVersion, expiresAtMs: claims.exp * 1000 };
      const verified = { user: { id: claims.sub, role: claims.role }, session };
      this.verified.set(token, verified);
      return verified;
    } catch {
      throw new UnauthorizedException('The access token is invalid or expired');
    }
  }
}

/** A token whose account no longer exists (deleted, or gone with a restore; the guard may have admitted it a moment ago). */
export const accountGone = () => new UnauthorizedException('The account of this access token no longer exists');

const isSessionVersion = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // The scheme is case-insensitive (RFC 9110, section 11.1).
  const match = /^Bearer +([\w-]+\.[\w-]+\.[\w-]*)$/i.exec(header);
  if (!match) throw new UnauthorizedException('Authorization must be "Bearer <JWT>"');
  return match[1];
}
