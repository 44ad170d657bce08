import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { User, type Role } from './user.schema.js';

export interface UserRecord {
  id: string;
  email: string;
  passwordHash: string;
  role: Role;
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
}

function toRecord(user: User & { _id: unknown }): UserRecord {
  return {
    id: String(user._id),
    email: user.email,
    passwordHash: user.passwordHash,
    role: user.role,
    createdAt: user.createdAt,
  };
}
