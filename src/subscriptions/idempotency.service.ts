import { ConflictException, HttpException, Injectable, Logger, UnprocessableEntityException } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { IdempotencyRecordsRepository } from './idempotency-records.repository.js';
import { SUBSCRIPTION_CHANGE_LOCK_MS } from './subscription-change-lock.js';

/**
 * How long a key's answer is kept at least. The sweep deletes it after that (once a minute on workers); until then a
 * retry still gets it, and a key reused after is a new request. "At least 24 hours", as payment APIs promise.
 */
export const ANSWER_KEPT_MS = 24 * 3600 * 1000;
/**
 * How long a request holds its key while it runs. Longer than the work can take (it runs under the subscription
 * change lock, which expires after 30 s), so a lease lapses only when its request died (a crash, or a failed write of
 * its answer), and a retry may then take the key over instead of waiting for the 24-hour purge.
 */
const LEASE_MS = SUBSCRIPTION_CHANGE_LOCK_MS + 10_000;
const POLL_MS = 50;

export interface StoredResponse<T> {
  status: number;
  body: T;
  /** True when this answer was stored by an earlier request with the same key. */
  replayed: boolean;
}

/** A client error stored as a key's answer, given again to a retry with that key (marked Idempotent-Replayed). */
export class ReplayedAnswerException extends HttpException {}

/** A refusal that holds only for the moment (another change is running): a retry with the same key must run. */
export class RetryableConflictException extends ConflictException {}

/**
 * Runs an operation at most once per (member, Idempotency-Key). Concurrent duplicates wait for the
 * first and get its answer; a later retry gets the stored answer; the same key with another body is
 * refused (422). Client errors (4xx) are stored like successes, since a retry would meet them again;
 * a server error or a RetryableConflictException releases the key so the retry with the same body can run.
 */
@Injectable()
export class IdempotencyService {
  private readonly logger = new Logger(IdempotencyService.name);
  /** Half the request deadline: a duplicate is told "still running" (409) before its own request times out (503). */
  private readonly waitMs: number;

  constructor(
    private readonly records: IdempotencyRecordsRepository,
    @InjectConfig() config: AppConfig,
  ) {
    this.waitMs = config.http.handlerTimeoutMs / 2;
  }

  async run<T>(
    userId: string,
    key: string,
    body: unknown,
    successStatus: number,
    operation: () => Promise<T>,
  ): Promise<StoredResponse<T>> {
    const id = `${userId}:${key}`;
    const requestHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    const claim = await this.claimOrAwait<T>(id, requestHash);
    if ('replayed' in claim) return claim;
    return this.perform(id, claim.lease, successStatus, operation);
  }

  /** Forgets answers past their 24 hours (FerretDB has no TTL indexes); the sweep job calls it. */
  async purgeExpired(now = new Date()): Promise<number> {
    return this.records.deleteExpired(now);
  }

  private async perform<T>(
    id: string,
    lease: string,
    successStatus: number,
    operation: () => Promise<T>,
  ): Promise<StoredResponse<T>> {
    let result: T;
    try {
      result = await operation();
    } catch (error) {
      if (isFinalAnswer(error)) {
        await this.keep(id, lease, { status: error.getStatus(), body: error.getResponse() });
      } else {
        await this.records.release(id, lease).catch((releaseError: unknown) => {
          this.logger.warn(
            `Idempotency key ${id} not released (${(releaseError as Error).message}): held until its lease lapses`,
          );
        });
      }
      throw error;
    }
    await this.keep(id, lease, { status: successStatus, body: result });
    return { status: successStatus, body: result, replayed: false };
  }

  /**
   * Stores the key's answer. The change it reports is made whatever becomes of this write, so a failed write (a
   * failover) is logged and the answer given all the same: a 5xx for a change that happened would send the client
   * into a retry. The key stays held until its lease lapses; a retry after that runs again and finds the change made.
   */
  private async keep(id: string, lease: string, answer: { status: number; body: unknown }): Promise<void> {
    try {
      await this.records.finish(id, lease, answer);
    } catch (error) {
      this.logger.warn(`Answer of idempotency key ${id} not stored (${(error as Error).message})`);
    }
  }

  /** The key for this request to run under, or the first request's answer. */
  private async claimOrAwait<T>(id: string, requestHash: string): Promise<{ lease: string } | StoredResponse<T>> {
    const lease = randomUUID();
    const claim = { requestHash, lease, lockedUntil: leaseEnd(), expiresAt: new Date(Date.now() + ANSWER_KEPT_MS) };
    if (await this.records.claim(id, claim)) return { lease };
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const record = await this.records.find(id);
      if (!record) throw new ConflictException('The first request with this Idempotency-Key failed; retry it');
      if (record.requestHash !== requestHash) {
        throw new UnprocessableEntityException('This Idempotency-Key was used with a different request body');
      }
      if (record.state === 'done' && record.response) return storedAnswer<T>(record.response);
      if (isLapsed(record) && (await this.records.takeOver(id, requestHash, lease, leaseEnd(), new Date()))) {
        return { lease };
      }
      if (Date.now() > deadline) throw new ConflictException('A request with this Idempotency-Key is still running');
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

function leaseEnd(): Date {
  return new Date(Date.now() + LEASE_MS);
}

function isLapsed(record: { lockedUntil?: Date | null }): boolean {
  return record.lockedUntil != null && record.lockedUntil.getTime() < Date.now();
}

/** A client error is the key's answer for good; a server error or a momentary conflict lets the retry run. */
function isFinalAnswer(error: unknown): error is HttpException {
  return error instanceof HttpException && error.getStatus() < 500 && !(error instanceof RetryableConflictException);
}

function storedAnswer<T>({ status, body }: { status: number; body: unknown }): StoredResponse<T> {
  if (status >= 400) throw new ReplayedAnswerException(body as Record<string, unknown>, status);
  return { status, body: body as T, replayed: true };
}
