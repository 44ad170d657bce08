import { ConflictException, HttpException, Injectable, UnprocessableEntityException } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { createHash } from 'node:crypto';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { IdempotencyRecord } from './idempotency-record.schema.js';

const KEEP_MS = 24 * 3600 * 1000;
/** How long a duplicate waits for the first request to finish before it is told to retry. */
const WAIT_MS = 10_000;
const POLL_MS = 50;

export interface StoredResponse<T> {
  status: number;
  body: T;
  /** True when this answer was stored by an earlier request with the same key. */
  replayed: boolean;
}

/**
 * Runs an operation at most once per (member, Idempotency-Key). Concurrent duplicates wait for the
 * first and get its answer; a later retry gets the stored answer; the same key with another body is
 * refused (422). Client errors (4xx) are stored like successes, since a retry would meet them again;
 * a server error releases the key so the retry can run.
 */
@Injectable()
export class IdempotencyService {
  constructor(@InjectModel(IdempotencyRecord.name) private readonly records: Model<IdempotencyRecord>) {}

  async run<T>(
    userId: string,
    key: string,
    body: unknown,
    successStatus: number,
    operation: () => Promise<T>,
  ): Promise<StoredResponse<T>> {
    const id = `${userId}:${key}`;
    const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    try {
      await this.records.create({
        _id: id,
        requestHash,
        state: 'in_progress',
        expiresAt: new Date(Date.now() + KEEP_MS),
      });
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
      return this.replay<T>(id, requestHash);
    }

    try {
      const result = await operation();
      await this.finish(id, { status: successStatus, body: result });
      return { status: successStatus, body: result, replayed: false };
    } catch (error) {
      if (error instanceof HttpException && error.getStatus() < 500) {
        await this.finish(id, { status: error.getStatus(), body: error.getResponse() });
      } else {
        await this.records.deleteOne({ _id: id });
      }
      throw error;
    }
  }

  /** Forgets answers past their 24 hours (FerretDB has no TTL indexes); the sweep job calls it. */
  async purgeExpired(now = new Date()): Promise<number> {
    return (await this.records.deleteMany({ expiresAt: { $lt: now } })).deletedCount;
  }

  private async finish(id: string, response: { status: number; body: unknown }): Promise<void> {
    await this.records.updateOne({ _id: id }, { $set: { state: 'done', response } });
  }

  private async replay<T>(id: string, requestHash: string): Promise<StoredResponse<T>> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const record = await this.records.findById(id).lean();
      if (!record) throw new ConflictException('The first request with this Idempotency-Key failed; retry it');
      if (record.requestHash !== requestHash) {
        throw new UnprocessableEntityException('This Idempotency-Key was used with a different request body');
      }
      if (record.state === 'done' && record.response) {
        const { status, body } = record.response;
        if (status >= 400) throw new HttpException(body as Record<string, unknown>, status);
        return { status, body: body as T, replayed: true };
      }
      if (Date.now() > deadline) throw new ConflictException('A request with this Idempotency-Key is still running');
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
