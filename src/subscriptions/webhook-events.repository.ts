import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { WebhookEvent } from './webhook-event.schema.js';

/**
 * How long a delivery holds an event it claimed. Longer than applying takes (up to 2 s waiting for the member's lock,
 * a refund's round trip, writes bounded by the 30 s change lock); a delivery that crashed, or whose release failed,
 * leaves its claim to the provider's next delivery after this.
 */
export const WEBHOOK_CLAIM_LEASE_MS = 60_000;

/** `claimed`: this delivery applies the event. `applied`: a delivery did. `in-progress`: another holds it now. */
export type WebhookClaim = { outcome: 'claimed'; owner: string } | { outcome: 'applied' } | { outcome: 'in-progress' };

/**
 * Claims of provider events (`webhook_events`). An insert is the claim, atomic on MongoDB and FerretDB alike; a claim
 * left by a delivery that never finished is taken over once its lease has expired, so a crash between claiming and
 * applying loses nothing. Taking over is a conditional update, which FerretDB does not apply atomically: two
 * takeovers at the same moment may both succeed, so the caller checks isApplied under the member's change lock.
 */
@Injectable()
export class WebhookEventsRepository {
  constructor(@InjectModel(WebhookEvent.name) private readonly events: Model<WebhookEvent>) {}

  async claim(id: string, type: string, now = new Date()): Promise<WebhookClaim> {
    const owner = randomUUID();
    const leaseUntil = new Date(now.getTime() + WEBHOOK_CLAIM_LEASE_MS);
    try {
      await this.events.create({ _id: id, type, state: 'claimed', owner, leaseUntil });
      return { outcome: 'claimed', owner };
    } catch (error) {
      if (!isDuplicateKeyError(error)) throw error;
    }
    const existing = await this.events.findById(id).lean<WebhookEvent>();
    // Released between the insert and this read: the delivery that held it failed, and the provider delivers again.
    if (!existing) return { outcome: 'in-progress' };
    if (existing.state !== 'claimed') return { outcome: 'applied' };
    if (existing.leaseUntil && existing.leaseUntil > now) return { outcome: 'in-progress' };
    const taken = await this.events.updateOne(
      { _id: id, state: 'claimed', owner: existing.owner },
      { $set: { owner, leaseUntil } },
    );
    return taken.matchedCount === 1 ? { outcome: 'claimed', owner } : { outcome: 'in-progress' };
  }

  async isApplied(id: string): Promise<boolean> {
    const claim = await this.events.findById(id).lean<WebhookEvent>();
    return claim !== null && claim.state !== 'claimed';
  }

  /**
   * An upsert: a delivery that outlived its lease may apply the event after the one that took the claim over failed
   * and released it, and the event must still be recorded as applied.
   */
  async markApplied(id: string, type: string): Promise<void> {
    await this.events.updateOne(
      { _id: id },
      { $set: { state: 'applied' }, $unset: { owner: 1, leaseUntil: 1 }, $setOnInsert: { type } },
      { upsert: true },
    );
  }

  /** Gives the event back at once for the provider's retry; a claim since taken over by another delivery stays. */
  async release(id: string, owner: string): Promise<void> {
    await this.events.deleteOne({ _id: id, state: 'claimed', owner });
  }

  /**
   * Forgets claims older than a day. A captured delivery replayed after that is refused by its signature timestamp
   * (PAYMENT_WEBHOOK_TOLERANCE_S, at most an hour), but a provider signs each retry anew and retries for days (Stripe
   * for three): a retry after the purge, of an event whose 200 it never got, applies the event again. That changes
   * nothing: a renewal is once per charge, a refund idempotent, and a failure marks past due only an ended period.
   */
  async purgeOlderThan(cutoff: Date): Promise<number> {
    return (await this.events.deleteMany({ createdAt: { $lt: cutoff } })).deletedCount;
  }
}
