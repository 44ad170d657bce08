import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { IdempotencyRecord } from './idempotency-record.schema.js';

interface StoredAnswer {
  status: number;
  body: unknown;
}

/** The keys and answers of IdempotencyService (`idempotency_keys`); `lease` names the request holding a key. */
@Injectable()
export class IdempotencyRecordsRepository {
  constructor(@InjectModel(IdempotencyRecord.name) private readonly records: Model<IdempotencyRecord>) {}

  /** Inserting the `_id` is the atomic claim, on MongoDB and FerretDB alike. @returns false when the key exists */
  async claim(
    id: string,
    claim: { requestHash: string; lease: string; lockedUntil: Date; expiresAt: Date },
  ): Promise<boolean> {
    try {
      await this.records.create({
        _id: id,
        requestHash: claim.requestHash,
        state: 'in_progress',
        lockedBy: claim.lease,
        lockedUntil: claim.lockedUntil,
        expiresAt: claim.expiresAt,
      });
      return true;
    } catch (error) {
      if (isDuplicateKeyError(error)) return false;
      throw error;
    }
  }

  async find(id: string): Promise<IdempotencyRecord | null> {
    return this.records.findById(id).lean<IdempotencyRecord>();
  }

  /** One conditional update: of several duplicates that find the lease lapsed, the one whose write matched runs. */
  async takeOver(id: string, requestHash: string, lease: string, lockedUntil: Date, now: Date): Promise<boolean> {
    const { modifiedCount } = await this.records.updateOne(
      { _id: id, requestHash, state: 'in_progress', lockedUntil: { $lt: now } },
      { $set: { lockedBy: lease, lockedUntil } },
    );
    return modifiedCount === 1;
  }

  /** Only while `lease` holds the key: after it lapsed, the answer belongs to whoever took it over. */
  async finish(id: string, lease: string, response: StoredAnswer): Promise<void> {
    await this.records.updateOne({ _id: id, lockedBy: lease }, { $set: { state: 'done', response } });
  }

  /**
   * Frees the key for a retry, only while `lease` holds it: its lease ends now, and the next request with the same body
   * takes it over. The record stays, with the body it was first used with: deleted, it let a retry with another body
   * (another plan) run as a new request, beside a charge the failed one may have made (a processor that timed out).
   */
  async release(id: string, lease: string): Promise<void> {
    await this.records.updateOne(
      { _id: id, lockedBy: lease, state: 'in_progress' },
      { $set: { lockedBy: null, lockedUntil: new Date(0) } },
    );
  }

  async deleteExpired(now: Date): Promise<number> {
    return (await this.records.deleteMany({ expiresAt: { $lt: now } })).deletedCount;
  }
}
