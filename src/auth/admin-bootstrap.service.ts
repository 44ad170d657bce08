import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { EmailTakenError, UsersRepository } from '../users/users.repository.js';
import { PasswordHasher } from './password-hasher.js';

/**
 * Creates the first admin from ADMIN_EMAIL / ADMIN_PASSWORD. An existing account with that email is
 * promoted but keeps its password (the variable only seeds it). Safe when several instances start at
 * once: the unique email index lets exactly one insert win.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger(AdminBootstrapService.name);

  constructor(
    private readonly users: UsersRepository,
    private readonly hasher: PasswordHasher,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const admin = this.config.auth.admin;
    if (!admin) return;
    const email = admin.email.trim().toLowerCase();

    const existing = await this.users.findByEmail(email);
    if (existing) {
      if (existing.role !== 'admin') {
        await this.users.setRole(existing.id, 'admin');
        this.logger.log(`Promoted ${email} to admin`);
      }
      return;
    }
    try {
      await this.users.create({ email, passwordHash: await this.hasher.hash(admin.password), role: 'admin' });
      this.logger.log(`Created admin ${email}`);
    } catch (error) {
      if (!(error instanceof EmailTakenError)) throw error;
    }
  }
}
