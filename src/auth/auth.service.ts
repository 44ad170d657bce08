import { ConflictException, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { EmailTakenError, UsersRepository, type UserRecord } from '../users/users.repository.js';
import type { AuthResponseDto } from './dto/auth-response.dto.js';
import { accountGone, type AccessTokenClaims } from './jwt-auth.guard.js';
import { PasswordHasher } from './password-hasher.js';
import { newSessionId, type TokenSession } from './session-state.js';
import { SessionsService } from './sessions.service.js';

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersRepository,
    private readonly sessions: SessionsService,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** `abandoned` (here and below): the request's RequestAbandoned signal, for the hashing bound's queue. */
  async register(email: string, password: string, abandoned?: AbortSignal): Promise<AuthResponseDto> {
    const passwordHash = await this.hasher.hash(password, abandoned);
    try {
      return await this.issue(await this.users.create({ email, passwordHash, role: 'user' }));
    } catch (error) {
      if (error instanceof EmailTakenError) throw new ConflictException('An account with this email already exists');
      throw error;
    }
  }

  /** Same answer and similar timing whether the email is unknown or the password wrong. */
  async login(email: string, password: string, abandoned?: AbortSignal): Promise<AuthResponseDto> {
    const user = await this.users.findByEmail(email);
    const valid = await this.hasher.verify(user?.passwordHash, password, abandoned);
    if (!user || !valid) throw new UnauthorizedException('Invalid email or password');
    return this.issue(user);
  }

  /**
   * The session of the caller's token ends, on every instance; the account's other sessions go on. A token from
   * before session ids names no session of its own: ending every session is the only way to end it (such tokens are
   * gone JWT_ACCESS_TTL_S after the deploy that added ids).
   */
  async logout(userId: string, session: TokenSession): Promise<void> {
    if (session.id === undefined) return this.logoutEverywhere(userId);
    await this.sessions.end(userId, { ...session, id: session.id });
    await this.sessions.purgeExpired();
  }

  /** Every token of the account issued so far stops working, on every instance. */
  async logoutEverywhere(userId: string): Promise<void> {
    if ((await this.sessions.endAll(userId)) === null) throw accountGone();
  }

  /**
   * 403, not 401, for a wrong current password: the token is fine, and a client that takes a 401 as "log in again"
   * must not do so here. A change that lost a race with another one also gets 403: the password it checked is no
   * longer the current one.
   */
  async changePassword(
    userId: string,
    currentPassword: string,
    newPassword: string,
    abandoned?: AbortSignal,
  ): Promise<AuthResponseDto> {
    const user = await this.users.findById(userId);
    if (!user) throw accountGone();
    if (!(await this.hasher.verify(user.passwordHash, currentPassword, abandoned))) {
      throw new ForbiddenException('The current password is wrong');
    }
    const newHash = await this.hasher.hash(newPassword, abandoned);
    const updated = await this.sessions.replacePassword(userId, user.passwordHash, newHash);
    if (!updated) throw new ForbiddenException('The current password is wrong');
    return this.issue(updated);
  }

  private async issue(user: UserRecord): Promise<AuthResponseDto> {
    const claims: Omit<AccessTokenClaims, 'exp'> = {
      sub: user.id,
      role: user.role,
      sv: user.sessionVersion,
      sid: newSessionId(),
    };
    const accessToken = await this.jwt.signAsync(claims);
    return {
      accessToken,
      expiresIn: this.config.auth.accessTokenTtlS,
      user: { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt },
    };
  }
}
