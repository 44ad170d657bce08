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
 * Safe to repeat: a run that finds the last demo profile does nothing, and one that finds a seed cut short (Ctrl-C
 * during `./scripts/dev.sh`'s first seed, which until 2026-12-06 was never completed) writes only what is missing.
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
    if (await this.complete(count)) {
      this.logger.log('Demo data already present; nothing to do');
      return { created: 0, skipped: true };
    }
    // Only a run resuming another looks for what is there: a first run writes every batch blind, as fast as before.
    const resuming = (await this.users.exists({ email: demoEmail(0) })) !== null;
    if (resuming) this.logger.log('Completing demo data an earlier run left unfinished');
    await Promise.all([this.users.init(), this.profiles.init()]);
    const passwordHash = await this.hasher.hash(DEMO_PASSWORD);
    const rand = random(seed);
    const started = Date.now();
    let created = 0;

    for (let start = 0; start < count; start += BATCH) {
      const end = Math.min(count, start + BATCH);
      const emails = Array.from({ length: end - start }, (_, offset) => demoEmail(start + offset));
      const { ids, withProfile } = resuming ? await this.existing(emails) : nothingYet();
      // Lean inserts skip Mongoose's timestamps; without them demo members would lack the createdAt every other
      // account and profile shows.
      const now = new Date();
      const users = emails
        .filter((email) => !ids.has(email))
        .map((email) => ({ _id: new Types.ObjectId(), email, passwordHash, role: 'user' as const }));
      for (const user of users) ids.set(user.email, user._id);
      if (users.length > 0) {
        const stamped = users.map((user) => ({ ...user, createdAt: now, updatedAt: now }));
        await this.users.insertMany(stamped, { ordered: false, lean: true });
      }
      // Every profile is generated, in order, so that the generator's sequence (and so the data) is the one of a run
      // never cut short; only the missing ones are written.
      const profiles = emails
        .map((email, offset) => demoProfile(start + offset, ids.get(email) as Types.ObjectId, rand))
        .filter((profile) => !withProfile.has(String(profile.userId)))
        .map((profile) => ({ ...profile, createdAt: now, updatedAt: now }));
      if (profiles.length > 0) await this.profiles.insertMany(profiles, { ordered: false, lean: true });
      created += profiles.length;
      if (end % 10_000 === 0 || end === count) {
        this.logger.log(`${end}/${count} demo profiles (${Math.round((end * 1000) / (Date.now() - started))}/s)`);
      }
    }
    return { created, skipped: false };
  }

  /** Whether the last of `count` demo accounts has its profile: each batch writes its accounts, then their profiles. */
  private async complete(count: number): Promise<boolean> {
    const last = await this.users.findOne({ email: demoEmail(count - 1) }, { _id: 1 }).lean();
    return last !== null && (await this.profiles.exists({ userId: last._id })) !== null;
  }

  /** The ids of the accounts among `emails` that exist, and which of them have a profile (as strings). */
  private async existing(emails: string[]): Promise<Existing> {
    const found = await this.users.find({ email: { $in: emails } }, { _id: 1, email: 1 }).lean();
    const profiles = await this.profiles.find({ userId: { $in: found.map((user) => user._id) } }, { userId: 1 }).lean();
    return {
      ids: new Map(found.map((user) => [user.email, user._id])),
      withProfile: new Set(profiles.map((profile) => String(profile.userId))),
    };
  }
}

/** Accounts by email, and the ids (as strings) of those that have a profile. */
interface Existing {
  ids: Map<string, Types.ObjectId>;
  withProfile: Set<string>;
}

const nothingYet = (): Existing => ({ ids: new Map(), withProfile: new Set() });
