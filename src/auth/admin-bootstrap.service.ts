import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { normaliseEmail } from '../users/email.js';
import { CHANGEABLE } from '../users/email-form-migration.js';
import { EmailTakenError, UsersRepository, type UserRecord } from '../users/users.repository.js';
import { PasswordHasher } from './password-hasher.js';

/**
 * Creates the first admin from ADMIN_EMAIL / ADMIN_PASSWORD. An existing account with that email is promoted only
 * when ADMIN_PASSWORD is its password: anyone may register any email, so promoting on the email alone would hand
 * admin to whoever registered it first. An admin keeps its password (the variable only seeds it). Safe when several
 * instances start at once: the unique email index lets exactly one insert win.
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
    const email = normaliseEmail(admin.email);

    const existing =
      (await this.users.findByEmail(email)) ??
      (await this.findInEarlierForm(email)) ??
      (await this.createAdmin(email, admin.password));
    if (existing && existing.role !== 'admin') await this.promote(existing, admin.password);
  }

  /**
   * The account stored under an earlier form of the email, which EmailFormMigration has not rewritten yet (it runs in
   * the background, on workers only): taken for missing, a second admin was created with ADMIN_PASSWORD beside the
   * first, whose password its operator may have changed since. Walks only the addresses that can change form.
   */
  private async findInEarlierForm(email: string): Promise<UserRecord | null> {
    for await (const user of this.users.emailsMatching(CHANGEABLE)) {
      if (user.email !== email && normaliseEmail(user.email) === email) return this.users.findById(user.id);
    }
    return null;
  }

  /** Undefined once created; else the account that took the email meanwhile, to be judged as one found at first. */
  private async createAdmin(email: string, password: string): Promise<UserRecord | undefined> {
    try {
      await this.users.create({ email, passwordHash: await this.hasher.hash(password), role: 'admin' });
      this.logger.log(`Created admin ${email}`);
      return undefined;
    } catch (error) {
      if (!(error instanceof EmailTakenError)) throw error;
      // Taken while the password was hashed (half a second): by another instance creating the admin, or by a member
      // registering the email, which must not be passed over in silence.
      return (await this.users.findByEmail(email)) ?? undefined;
    }
  }

  private async promote(account: UserRecord, password: string): Promise<void> {
    if (!(await this.hasher.verify(account.passwordHash, password))) {
      this.logger.error(
        `ADMIN_EMAIL ${account.email} belongs to a member account whose password is not ADMIN_PASSWORD: not promoted`,
      );
      return;
    }
    await this.users.setRole(account.id, 'admin');
    this.logger.log(`Promoted ${account.email} to admin`);
  }
}
