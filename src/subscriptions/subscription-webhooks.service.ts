import { Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Redis } from 'ioredis';
import type { Model } from 'mongoose';
import { setTimeout as sleep } from 'node:timers/promises';
import { TieredCache } from '../cache/tiered-cache.js';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { REDIS_CLIENT } from '../redis/redis.constants.js';
import type { WebhookEventDto } from './dto/webhook-event.dto.js';
import { PAYMENT_PROVIDER, type PaymentProvider } from './payment-provider.js';
import { withSubscriptionChangeLock } from './subscription-change-lock.js';
import { SubscriptionsRepository } from './subscriptions.repository.js';
import { ENTITLEMENT_CACHE } from './subscriptions.service.js';
import { WebhookEvent } from './webhook-event.schema.js';

/**
 * While a member's own change holds the subscription, an event waits this often, this long apart, before it is
 * refused (503) for the provider to deliver again: a change takes a charge's round trip, usually well under this.
 */
const LOCK_ATTEMPTS = 20;
const LOCK_RETRY_MS = 100;

/**
 * Applies provider events at most once: the event id is claimed by an insert before anything
 * changes, a redelivery finds the claim and changes nothing, and a failure releases the claim so
 * the provider's retry can apply it. Renewals are also keyed by charge id, so even a claim lost
 * between the two steps cannot renew twice. An event changes the subscription under the member's
 * subscription-change lock, like the member's own requests and the sweep.
 */
@Injectable()
export class SubscriptionWebhooks {
  private readonly logger = new Logger(SubscriptionWebhooks.name);

  constructor(
    @InjectModel(WebhookEvent.name) private readonly events: Model<WebhookEvent>,
    private readonly subscriptions: SubscriptionsRepository,
    private readonly cache: TieredCache,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    @Inject(PAYMENT_PROVIDER) private readonly payments: PaymentProvider,
  ) {}

  async handle(provider: string, event: WebhookEventDto): Promise<{ received: true; duplicate: boolean }> {
    const id = `${provider}:${event.id}`;
    try {
      await this.events.create({ _id: id, type: event.type });
    } catch (error) {
      if (isDuplicateKeyError(error)) return { received: true, duplicate: true };
      throw error;
    }
    try {
      await this.whileMemberChangesNothingElse(event.data.userId, () => this.apply(event));
    } catch (error) {
      await this.events.deleteOne({ _id: id });
      throw error;
    }
    return { received: true, duplicate: false };
  }

  /**
   * Forgets claims older than a day. A redelivery of such an event is refused anyway: its signature
   * timestamp is far outside PAYMENT_WEBHOOK_TOLERANCE_S (at most an hour).
   */
  async purgeOlderThan(cutoff: Date): Promise<number> {
    return (await this.events.deleteMany({ createdAt: { $lt: cutoff } })).deletedCount;
  }

  /** Without Redis the lock helper refuses (503) too: the provider's retry is safer than an unguarded write. */
  private async whileMemberChangesNothingElse(userId: string, apply: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      if ((await withSubscriptionChangeLock(this.redis, userId, apply)).acquired) return;
      if (attempt === LOCK_ATTEMPTS) {
        throw new ServiceUnavailableException('The subscription is being changed; deliver the event again later');
      }
      await sleep(LOCK_RETRY_MS);
    }
  }

  private async apply({ id, type, data }: WebhookEventDto): Promise<void> {
    const record = await this.subscriptions.findByUser(data.userId);
    if (!record) {
      this.logger.warn(`Webhook ${id} (${type}) for a member without a subscription: ignored`);
      return;
    }
    const now = new Date();
    const chargeId = data.chargeId ?? id;
    const changed =
      type === 'invoice.paid'
        ? await this.subscriptions.renew(record, chargeId, now)
        : await this.subscriptions.markPastDue(data.userId, now);
    if (!changed) {
      this.logger.warn(`Webhook ${id} (${type}) did not apply to a ${record.status} subscription`);
      // A lean read applies no schema defaults: documents older than chargeIds have none.
      const paidAlready = (record.chargeIds ?? []).includes(chargeId) || record.lastChargeId === chargeId;
      // A renewal charged after the member canceled (or after the subscription ended) buys nothing: give it back.
      // A failed refund releases the event's claim (handle), so the provider's redelivery tries again.
      if (type === 'invoice.paid' && data.chargeId && !paidAlready) {
        await this.payments.refund(data.chargeId);
        this.logger.warn(`Webhook ${id}: refunded charge ${data.chargeId}, which paid for nothing`);
      }
      return;
    }
    await this.cache.invalidate(ENTITLEMENT_CACHE.name, [data.userId]);
  }
}
