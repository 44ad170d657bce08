import { Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Types, type Model } from 'mongoose';
import { PasswordHasher } from '../auth/password-hasher.js';
import { Profile } from '../profiles/profile.schema.js';
import { User } from '../users/user.schema.js';
import { demoEmail, demoProfile, random } from './demo-data.js';

export const DEMO_PASSWORD = 'vesta-demo-password';
const BATCH = 2_000;

/**
 * Inserts demo accounts and profiles in batches. Bulk loading is the one place that writes both
 * collections directly: going through the repositories would mean a million single inserts.
 * Safe to repeat: when the first demo account exists it does nothing.
 */
@Injectable()
export class DemoSeeder {
  private readonly logger = new Logger(DemoSeeder.name);

  constructor(
    @InjectModel(User.name) private readonly users: Model<User>,
    @InjectModel(Profile.name) private readonly profiles: Model<Profile>,
    private readonly hasher: PasswordHasher,
  ) {}

  async seed(count: number, seed = 42): Promise<{ created: number; skipped: boolean }> {
    if (await this.users.exists({ email: demoEmail(0) })) {
      this.logger.log('Demo data already present; nothing to do');
      return { created: 0, skipped: true };
    }
    await Promise.all([this.users.init(), this.profiles.init()]);
    const passwordHash = await this.hasher.hash(DEMO_PASSWORD);
    const rand = random(seed);
    const started = Date.now();

    for (let start = 0; start < count; start += BATCH) {
      const end = Math.min(count, start + BATCH);
      // Lean inserts skip Mongoose's timestamps; without them demo members would lack the createdAt every other
      // account and profile shows.
      const now = new Date();
      const users = Array.from({ length: end - start }, (_, offset) => ({
        _id: new Types.ObjectId(),
        email: demoEmail(start + offset),
        passwordHash,
        role: 'user' as const,
        createdAt: now,
        updatedAt: now,
      }));
      await this.users.insertMany(users, { ordered: false, lean: true });
      await this.profiles.insertMany(
        users.map((user, offset) => ({
          ...demoProfile(start + offset, user._id, rand),
          createdAt: now,
          updatedAt: now,
        })),
        { ordered: false, lean: true },
      );
      if (end % 10_000 === 0 || end === count) {
        this.logger.log(`${end}/${count} demo profiles (${Math.round((end * 1000) / (Date.now() - started))}/s)`);
      }
    }
    return { created: count, skipped: false };
  }
}
