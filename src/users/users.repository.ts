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
    return user ? sessionVersionOf(user) : null;
  }

  /** Ends every session of the account (one atomic $inc); null when the account does not exist. */
  async raiseSessionVersion(id: string): Promise<number | null> {
    // The whole document: FerretDB does not implement a projection on findAndModify.
    const user = await this.users
      .findByIdAndUpdate(id, { $inc: { sessionVersion: 1 } }, { returnDocument: 'after' })
      .lean();
    return user ? user.sessionVersion : null;
  }

  /**
   * Stores a new password hash and ends every session, in one update, only if the stored hash is still the one the
   * caller's current password was checked against (two changes at once cannot both pass the check and race).
   * @returns the account as it is now, or null when the hash had changed (or the account is gone)
   */
  async replacePassword(id: string, checkedHash: string, passwordHash: string): Promise<UserRecord | null> {
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
    sessionVersion: sessionVersionOf(user),
    // Timestamps came with the first schema, but not every hand-written document has them: the id holds the time.
    createdAt: user.createdAt ?? (user._id instanceof Types.ObjectId ? user._id.getTimestamp() : new Date(0)),
  };
}

/** See User.sessionVersion: documents from before it have none, which counts as 0. */
const sessionVersionOf = (user: Pick<User, 'sessionVersion'>): number => user.sessionVersion ?? 0;
