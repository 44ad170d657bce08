import { Injectable, Logger } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { TieredCache } from '../cache/tiered-cache.js';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import type { WebhookEventDto } from './dto/webhook-event.dto.js';
import { SubscriptionsRepository } from './subscriptions.repository.js';
import { ENTITLEMENT_CACHE } from './subscriptions.service.js';
import { WebhookEvent } from './webhook-event.schema.js';

/**
 * Applies provider events at most once: the event id is claimed by an insert before anything
 * changes, a redelivery finds the claim and changes nothing, and a failure releases the claim so
 * the provider's retry can apply it. Renewals are also keyed by charge id, so even a claim lost
 * between the two steps cannot renew twice.
 */
@Injectable()
export class SubscriptionWebhooks {
  private readonly logger = new Logger(SubscriptionWebhooks.name);

  constructor(
    @InjectModel(WebhookEvent.name) private readonly events: Model<WebhookEvent>,
    private readonly subscriptions: SubscriptionsRepository,
    private readonly cache: TieredCache,
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
      await this.apply(event);
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

  private async apply({ id, type, data }: WebhookEventDto): Promise<void> {
    const record = await this.subscriptions.findByUser(data.userId);
    if (!record) {
      this.logger.warn(`Webhook ${id} (${type}) for a member without a subscription: ignored`);
      return;
    }
    const changed =
      type === 'invoice.paid'
        ? await this.subscriptions.renew(record, data.chargeId ?? id, new Date())
        : await this.subscriptions.markPastDue(data.userId);
    if (!changed) {
      this.logger.warn(`Webhook ${id} (${type}) did not apply to a ${record.status} subscription`);
      return;
    }
    await this.cache.invalidate(ENTITLEMENT_CACHE.name, [data.userId]);
  }
}
