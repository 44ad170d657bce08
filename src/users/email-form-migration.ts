import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { normaliseEmail } from './email.js';
import { UsersRepository } from './users.repository.js';

/**
 * The addresses that can change form: one with a character outside printable ASCII, a quoted local part (unquoted since
 * 2026-12-05), and one in capitals or with spaces around it. The app has trimmed and lowered plain ones since its first
 * version, but there is no route to change an email, so operators set them by hand, as the member typed them: such an
 * account could not log in, and the same address in lower case registered a second one.
 */
export const CHANGEABLE = /[^ -~]|^"|[A-Z]|^ | $/;

/**
 * Rewrites emails stored before they were normalised (src/users/email.ts) into today's form, so that their owners
 * can still log in (login looks up the normalised form) and nobody can register them a second time. Runs in the
 * background on workers at start; it is idempotent, so instances starting together do no harm. An address whose new
 * form another account already has is left as it is and logged: two accounts a reader cannot tell apart need a
 * person to decide.
 */
@Injectable()
export class EmailFormMigration implements OnApplicationBootstrap {
  private readonly logger = new Logger(EmailFormMigration.name);

  constructor(
    private readonly users: UsersRepository,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.role === 'api') return;
    void this.run().catch((error: unknown) =>
      this.logger.warn(`Email form migration stopped: ${(error as Error).message}`),
    );
  }

  /** @returns how many addresses were rewritten and how many collided with another account */
  async run(): Promise<{ rewritten: number; collisions: number }> {
    let rewritten = 0;
    let collisions = 0;
    for await (const user of this.users.emailsMatching(CHANGEABLE)) {
      const email = normaliseEmail(user.email);
      if (email === user.email) continue;
      // Looked up first: FerretDB reports a unique index refusing an update as an internal error, not as code 11000.
      if (await this.users.emailExists(email)) {
        collisions += 1;
        this.logger.error(`Account ${user.id}: its email in normal form belongs to another account; left as is`);
        continue;
      }
      try {
        await this.users.replaceEmail(user.id, user.email, email);
        rewritten += 1;
      } catch (error) {
        // Registered in the moment since the lookup (MongoDB): the next start tries again.
        if (!isDuplicateKeyError(error)) throw error;
      }
    }
    if (rewritten + collisions > 0) {
      this.logger.log(
        `Email form migration: ${rewritten} rewritten, ${collisions} left (another account has the form)`,
      );
    }
    return { rewritten, collisions };
  }
}
