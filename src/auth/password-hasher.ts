import { Injectable } from '@nestjs/common';
import argon2 from 'argon2';

/**
 * argon2id with the library's defaults (64 MiB, 3 passes, parallelism 4; ~100 ms here), which meet
 * OWASP's minimum. Behind an injectable so unit tests can swap the slow hash.
 */
@Injectable()
export class PasswordHasher {
  /** A real hash of a random password, verified when the email is unknown so timing does not reveal it. */
  private readonly decoy = argon2.hash(`decoy-${Math.random()}`, { type: argon2.argon2id });

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id });
  }

  async verify(hash: string | undefined, password: string): Promise<boolean> {
    if (hash === undefined) {
      await argon2.verify(await this.decoy, password);
      return false;
    }
    return argon2.verify(hash, password);
  }
}
