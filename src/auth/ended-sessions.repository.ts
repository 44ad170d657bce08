import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Types, type Model } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { EndedSession } from './ended-session.schema.js';

/** Sessions ended by their own logout (see EndedSession). */
@Injectable()
export class EndedSessionsRepository {
  constructor(@InjectModel(EndedSession.name) private readonly sessions: Model<EndedSession>) {}

  /** Records the session as ended; two logouts with one token at once record it once. */
  async add(userId: string, session: { id: string; version: number; expiresAt: Date }): Promise<void> {
    try {
      await this.sessions.create({
        _id: session.id,
        userId: new Types.ObjectId(userId),
        sessionVersion: session.version,
        expiresAt: session.expiresAt,
      });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
  }

  /**
   * The ids of the account's sessions ended under `version` whose tokens expire after `expiringAfter`: all of them, no
   * limit, since one left out would be a session back to life (SessionsService.end keeps them to about 100).
   */
  async ids(userId: string, version: number, expiringAfter: Date): Promise<string[]> {
    const found = await this.sessions.find(liveFilter(userId, version, expiringAfter), { _id: 1 }).lean();
    return found.map((session) => session._id);
  }

  /** How many ids `ids` would return. */
  count(userId: string, version: number, expiringAfter: Date): Promise<number> {
    return this.sessions.countDocuments(liveFilter(userId, version, expiringAfter));
  }

  /** Deletes the records of every account whose tokens expired before `before`; returns how many. */
  async removeExpiredBefore(before: Date): Promise<number> {
    return (await this.sessions.deleteMany({ expiresAt: { $lt: before } })).deletedCount;
  }
}

const liveFilter = (userId: string, version: number, expiringAfter: Date) => ({
  userId: new Types.ObjectId(userId),
  sessionVersion: version,
  expiresAt: { $gt: expiringAfter },
});
