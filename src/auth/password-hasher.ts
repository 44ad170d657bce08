import { Injectable } from '@nestjs/common';
import argon2 from 'argon2';
import { PasswordHashingAdmission } from './password-hashing-admission.js';

/**
 * The form a password is hashed in: NFKC, as NIST 800-63B (5.1.1.2) advises. The same password typed on another
 * device may arrive composed or decomposed ("é" as one code point or as "e" and an accent), or in full-width letters
 * from an East Asian keyboard; hashed as sent, it did not match and counted as a failed login.
 */
const normalForm = (password: string) => password.normalize('NFKC');

/**
 * The texts a password is checked as: its normal form first, then the forms a hash made before passwords were
 * normalised may be of, the text as its owner's device sent it at registration. The text as sent now is not enough:
 * a device that decomposes accents registered "Cre\u0300me", another sends "Crème", whose NFKC form is composed too,
 * and the miss counted as a failed login. So its decomposed form as well (a composed legacy hash matches the normal
 * form). Full-width letters cannot be recovered this way, accents can. An ASCII password has one form, one check.
 */
const checkedForms = (password: string) => [...new Set([normalForm(password), password, password.normalize('NFD')])];

/**
 * argon2id with the library's defaults (64 MiB, 3 passes, parallelism 4; ~100 ms here), which meet
 * OWASP's minimum. Behind an injectable so unit tests can swap the slow hash. Every hash and check waits for a slot of
 * the admission, so a burst of logins gets quick 503s instead of queueing past the request deadline.
 */
@Injectable()
export class PasswordHasher {
  /** A real hash of a random password, verified when the email is unknown so timing does not reveal it. */
  private readonly decoy = argon2.hash(`decoy-${Math.random()}`, { type: argon2.argon2id });

  constructor(private readonly admission: PasswordHashingAdmission) {}

  /** `abandoned`: the request nobody waits for any more (RequestAbandoned), whose hash then gives its place up. */
  hash(password: string, abandoned?: AbortSignal): Promise<string> {
    return this.admission.run(() => argon2.hash(normalForm(password), { type: argon2.argon2id }), abandoned);
  }

  /**
   * Checks the normal form, then, for a password that has others, the text as sent and its decomposed form (see
   * checkedForms). An unknown email (no hash) costs the same checks against the decoy, in the same
   * admission: a refusal or a wait must not tell a known email from an unknown one either.
   */
  verify(hash: string | undefined, password: string, abandoned?: AbortSignal): Promise<boolean> {
    return this.admission.run(() => this.verifyForms(hash, password), abandoned);
  }

  private async verifyForms(hash: string | undefined, password: string): Promise<boolean> {
    for (const form of checkedForms(password)) {
      if (await this.matches(hash, form)) return true;
    }
    return false;
  }

  /**
   * A hash argon2 cannot read matches nothing, at the decoy's cost as for an unknown email: argon2.verify throws on
   * one (an account locked by blanking its hash by hand, a hash cut short), which answered 500.
   */
  private async matches(hash: string | undefined, form: string): Promise<boolean> {
    if (hash !== undefined) {
      try {
        return await argon2.verify(hash, form);
      } catch {
        // Unreadable: checked against the decoy below.
      }
    }
    await argon2.verify(await this.decoy, form);
    return false;
  }
}
