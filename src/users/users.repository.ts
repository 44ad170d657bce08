import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Types, type Model } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { DEFAULT_ROLE, ROLES, User, type Role } from './user.schema.js';

export interface UserRecord {
  id: string;
  email: string;
  passwordHash: string;
  role: Role;
  /** See User.sessionVersion. */
  sessionVersion: number;
  createdAt: Date;
}

export class EmailTakenError extends Error {
  constructor() {
    super('Email already registered');
  }
}

@Injectable()
export class UsersRepository {
  constructor(@InjectModel(User.name) private readonly users: Model<User>) {}

  async findByEmail(email: string): Promise<UserRecord | null> {
    const user = await this.users.findOne({ email }).lean();
    return user ? toRecord(user) : null;
  }

  async findById(id: string): Promise<UserRecord | null> {
    const user = await this.users.findById(id).lean();
    return user ? toRecord(user) : null;
  }

  /** @throws EmailTakenError when the (normalised) email exists */
  async create(user: { email: string; passwordHash: string; role: Role }): Promise<UserRecord> {
    try {
      const created = await this.users.create(user);
      return toRecord(created.toObject());
    } catch (error) {
      if (isDuplicateKeyError(error)) throw new EmailTakenError();
      throw error;
    }
  }

  async setRole(id: string, role: Role): Promise<void> {
    await this.users.updateOne({ _id: id }, { $set: { role } });
  }

  /**
   * The account's session version, or null when the account does not exist. Read from the primary, as every read of
   * the connection is (mongoose-options.ts): a lagging secondary would hand back the version from before a logout-all,
   * and the cache would keep it.
   */
  async sessionVersion(id: string): Promise<number | null> {
    const user = await this.users.findById(id, { sessionVersion: 1 }).lean();
    return user ? sessionVersionOf(user.sessionVersion) : null;
  }

  /** Ends every session of the account (one atomic $inc); null when the account does not exist. */
  async raiseSessionVersion(id: string): Promise<number | null> {
    await this.repairSessionVersion(id);
    // The whole document: FerretDB does not implement a projection on findAndModify.
    const user = await this.users
      .findByIdAndUpdate(id, { $inc: { sessionVersion: 1 } }, { returnDocument: 'after' })
      .lean();
    return user ? sessionVersionOf(user.sessionVersion) : null;
  }

  /**
   * Stores a version read as another (sessionVersionOf) as the one it is read as, so the $inc that follows raises
   * what tokens carry: $inc failed on null or text (a 500 for logout-all and every password change), and 1.5 raised
   * to 2.5 still read as 0, so no session ended. Through the driver: mongoose casts the filter to the schema's Number,
   * which throws on text. Only while the stored value is still the damaged one; a no-op for every sound account.
   */
  private async repairSessionVersion(id: string): Promise<void> {
    if (!Types.ObjectId.isValid(id)) return;
    const _id = new Types.ObjectId(id);
    const stored = await this.users.collection.findOne({ _id }, { projection: { sessionVersion: 1 } });
    if (!stored || !('sessionVersion' in stored) || isWholeVersion(stored.sessionVersion)) return;
    await this.users.collection.updateOne(
      { _id, sessionVersion: stored.sessionVersion },
      { $set: { sessionVersion: sessionVersionOf(stored.sessionVersion) } },
    );
  }

  /**
   * Stores a new password hash and ends every session, in one update, only if the stored hash is still the one the
   * caller's current password was checked against (two changes at once cannot both pass the check and race).
   * @returns the account as it is now, or null when the hash had changed (or the account is gone)
   */
  async replacePassword(id: string, checkedHash: string, passwordHash: string): Promise<UserRecord | null> {
    await this.repairSessionVersion(id);
    const user = await this.users
      .findOneAndUpdate(
        { _id: id, passwordHash: checkedHash },
        { $set: { passwordHash }, $inc: { sessionVersion: 1 } },
        { returnDocument: 'after' },
      )
      .lean();
    return user ? toRecord(user) : null;
  }

  /** Accounts whose stored email matches `pattern`, streamed: a migration may walk the whole collection. */
  async *emailsMatching(pattern: RegExp): AsyncGenerator<{ id: string; email: string }> {
    for await (const user of this.users
      .find({ email: { $regex: pattern } }, { email: 1 })
      .lean()
      .cursor()) {
      yield { id: String(user._id), email: user.email };
    }
  }

  async emailExists(email: string): Promise<boolean> {
    return (await this.users.exists({ email })) !== null;
  }

  /**
   * Replaces the account's email only while it is still `from`.
   * @throws the driver's duplicate key error when another account has `to`
   */
  async replaceEmail(id: string, from: string, to: string): Promise<void> {
    await this.users.updateOne({ _id: id, email: from }, { $set: { email: to } });
  }
}

/**
 * The account as today's schema would have stored it. Lean reads apply no defaults, and documents from before a field
 * existed, restored from an older backup or inserted past mongoose, lack it: read as stored, an account without a role
 * got tokens without one, which the guard refuses, so its client looped login, 401, login. A role this version does not
 * know (a hand edit) reads as the default too: never more than a member.
 */
function toRecord(user: User & { _id: unknown }): UserRecord {
  return {
    id: String(user._id),
    email: user.email,
    passwordHash: user.passwordHash,
    role: ROLES.includes(user.role) ? user.role : DEFAULT_ROLE,
    sessionVersion: sessionVersionOf(user.sessionVersion),
    // Timestamps came with the first schema, but not every hand-written document has them: the id holds the time.
    createdAt: user.createdAt ?? (user._id instanceof Types.ObjectId ? user._id.getTimestamp() : new Date(0)),
  };
}

const isWholeVersion = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * See User.sessionVersion: documents from before it have none, which counts as 0. One stored otherwise (an import that
 * writes null for what it lacks, or numbers as text; a hand edit) reads as the whole number it spells, else 0 as if
 * absent: read as stored, its tokens carried a `sv` the guard refuses, so its client looped login, 401, login.
 */
function sessionVersionOf(stored: unknown): number {
  const version = typeof stored === 'string' && /^\d+$/.test(stored) ? Number(stored) : stored;
  return isWholeVersion(version) ? version : 0;
}
