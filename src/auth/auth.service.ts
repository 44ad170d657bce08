import { ConflictException, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { EmailTakenError, UsersRepository, type UserRecord } from '../users/users.repository.js';
import type { AuthResponseDto } from './dto/auth-response.dto.js';
import { PasswordHasher } from './password-hasher.js';

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersRepository,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async register(email: string, password: string): Promise<AuthResponseDto> {
    const passwordHash = await this.hasher.hash(password);
    try {
      return await this.issue(await this.users.create({ email, passwordHash, role: 'user' }));
    } catch (error) {
      if (error instanceof EmailTakenError) throw new ConflictException('An account with this email already exists');
      throw error;
    }
  }

  /** Same answer and similar timing whether the email is unknown or the password wrong. */
  async login(email: string, password: string): Promise<AuthResponseDto> {
    const user = await this.users.findByEmail(email);
    const valid = await this.hasher.verify(user?.passwordHash, password);
    if (!user || !valid) throw new UnauthorizedException('Invalid email or password');
    return this.issue(user);
  }

  private async issue(user: UserRecord): Promise<AuthResponseDto> {
    const accessToken = await this.jwt.signAsync({ sub: user.id, role: user.role });
    return {
      accessToken,
      expiresIn: this.config.auth.accessTokenTtlS,
      user: { id: user.id, email: user.email, role: user.role, createdAt: user.createdAt },
    };
  }
}
