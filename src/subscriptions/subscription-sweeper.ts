import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { TieredCache } from '../cache/tiered-cache.js';
import { REDIS_CLIENT } from '../redis/redis.constants.js';
import type { QueryFilter, Types } from 'mongoose';
import { RENEWAL_WAIT_MS } from './plans.js';
import type { Subscription, SubscriptionStatus } from './subscription.schema.js';
import { IdempotencyService } from './idempotency.service.js';
import { withSubscriptionChangeLock } from './subscription-change-lock.js';
import { SubscriptionWebhooksService } from './subscription-webhooks.service.js';
import { SubscriptionNeedsSupportException } from './stored-subscription.js';
import { NOT_CANCELED, paidFor, SubscriptionsRepository, type SubscriptionRecord } from './subscriptions.repository.js';
import { UnsettledCharges, type UnsettledCharge } from './unsettled-charges.js';
import { PAYMENT_PROVIDER, type PaymentProvider } from './payment-provider.js';
import { ENTITLEMENT_CACHE } from './subscriptions.service.js';

/** The processor did not give a charge back: that charge's trouble, not the sweep's. */
class RefundRefusedError extends Error {}

/** A past-due subscription expires this long after its period end: until then its member can still pay. */
export const GRACE_MS = 3 * 24 * 3600 * 1000;
const BATCH = 500;
const WEBHOOK_EVENTS_KEPT_MS = 24 * 3600 * 1000;

interface Rule {
  from: QueryFilter<Subscription>;
  to: SubscriptionStatus;
  /** How long after the period end the rule applies. */
  afterMs: number;
}

/**
 * Ends what the clock has ended. Renewals are confirmed by the payment provider's webhook; a period
 * that ends unconfirmed means the renewal failed:
 * - canceled at period end, and the period is over → `canceled`;
 * - not canceled, and no renewal came within RENEWAL_WAIT_MS of the period end → `past_due`;
 * - `past_due` for longer than the grace period → `expired`.
 * Each move is a conditional single-document update, so a sweep that runs twice (or on two workers)
 * moves nothing twice; each moved member's cached entitlement is evicted on every instance. A member
 * whose subscription is being changed meanwhile (a request or a webhook holds its lock) is left for the
 * next run. Without Redis the sweep fails and the next run tries again. It also deletes expired
 * Idempotency-Key answers and day-old webhook claims.
 */
@Injectable()
export class SubscriptionSweeper {
  private readonly logger = new Logger(SubscriptionSweeper.name);
  private static readonly RULES: Rule[] = [
    { from: { status: 'active', cancelAtPeriodEnd: true }, to: 'canceled', afterMs: 0 },
    { from: { status: 'active', cancelAtPeriodEnd: NOT_CANCELED }, to: 'past_due', afterMs: RENEWAL_WAIT_MS },
    { from: { status: 'past_due' }, to: 'expired', afterMs: GRACE_MS },
  ];

  constructor(
    private readonly subscriptions: SubscriptionsRepository,
    private readonly cache: TieredCache,
    private readonly idempotency: IdempotencyService,
    private readonly webhooks: SubscriptionWebhooksService,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly unsettled: UnsettledCharges,
    @Inject(PAYMENT_PROVIDER) private readonly payments: PaymentProvider,
  ) {}

  async sweep(now = new Date()): Promise<Record<string, number>> {
    const moved: Record<string, number> = { canceled: 0, past_due: 0, expired: 0 };
    for (const rule of SubscriptionSweeper.RULES) {
      const endedBefore = new Date(now.getTime() - rule.afterMs);
      const passedOver: Types.ObjectId[] = [];
      for (;;) {
        const { records, damaged, full } = await this.subscriptions.ended(rule.from, endedBefore, BATCH, passedOver);
        passedOver.push(...damaged);
        let changed = 0;
        for (const record of records) {
          if (!(await this.move(record, rule))) continue;
          changed += 1;
          await this.cache.invalidate(ENTITLEMENT_CACHE.name, [String(record.userId)]);
        }
        moved[rule.to] += changed;
        // A batch that moved nothing and passed over nothing new would come back the same.
        if (!full || (changed === 0 && damaged.length === 0)) break;
      }
    }
    if (moved.canceled + moved.past_due + moved.expired > 0)
      this.logger.log(`Subscriptions moved: ${JSON.stringify(moved)}`);
    await this.settleCharges(now);
    // Housekeeping of the at-most-once records, which FerretDB cannot expire by itself.
    await this.idempotency.purgeExpired(now);
    await this.webhooks.purgeOlderThan(new Date(now.getTime() - WEBHOOK_EVENTS_KEPT_MS));
    return moved;
  }

  /**
   * Refunds each charge whose write failed (UnsettledCharges) and that no retry applied within SETTLE_AFTER_MS; one
   * that did is forgotten. Under the member's lock, so no retry charges while it runs; a member being changed now is
   * left for the next run, and so is a charge whose refund fails, without holding up the others. The refund is
   * remembered first, so that the charge, given back to a retry of its key, is refused (charge()).
   */
  async settleCharges(now: Date): Promise<void> {
    for (const charge of await this.unsettled.due(now)) {
      // A refund the processor keeps refusing (a disputed charge cannot be refunded) stopped the loop at that charge
      // on every run: no later charge was refunded, and the sweep's purges never ran again. It stays noted instead.
      // Redis or MongoDB failing still ends the run: every other charge would wait for them in turn.
      // Nor may one member's subscription that cannot be read (SubscriptionNeedsSupportException): its charge waits for
      // support's repair.
      await this.settle(charge).catch((error: unknown) => {
        if (!(error instanceof RefundRefusedError || error instanceof SubscriptionNeedsSupportException)) throw error;
        this.logger.error(
          `Charge ${charge.chargeId} of member ${charge.userId} not settled (${error.message}): the next run tries ` +
            'again; refund it by hand if this repeats',
        );
      });
    }
  }

  private async settle(charge: UnsettledCharge): Promise<void> {
    const outcome = await withSubscriptionChangeLock(this.redis, charge.userId, async () => {
      const current = await this.subscriptions.findForChange(charge.userId);
      const applied = current !== null && paidFor(current, charge.chargeId);
      if (!applied) {
        await this.unsettled.markRefunded(charge.chargeId);
        if (current) await this.subscriptions.rememberRefund(charge.userId, charge.chargeId);
        await this.payments.refund(charge.chargeId).catch((error: Error) => {
          throw new RefundRefusedError(error.message, { cause: error });
        });
      }
      await this.unsettled.forget(charge);
      return applied;
    });
    if (outcome.acquired && !outcome.value) {
      this.logger.warn(`Refunded charge ${charge.chargeId} of member ${charge.userId}: no retry applied it`);
    }
  }

  /** False when the subscription moved meanwhile or is being changed now. */
  private async move(record: SubscriptionRecord, rule: Rule): Promise<boolean> {
    const outcome = await withSubscriptionChangeLock(this.redis, String(record.userId), () =>
      this.subscriptions.transition(record, rule.from, rule.to),
    );
    return outcome.acquired && outcome.value;
  }
}
