import { BadRequestException, Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { TieredCache } from '../cache/tiered-cache.js';
import { REDIS_CLIENT } from '../redis/redis.constants.js';
import {
  isHandledEvent,
  type HandledWebhookEvent,
  type WebhookEventDto,
  type WebhookReceiptDto,
} from './dto/webhook-event.dto.js';
import { PAYMENT_PROVIDER, type PaymentProvider } from './payment-provider.js';
import { SubscriptionNeedsSupportException } from './stored-subscription.js';
import { withSubscriptionChangeLock } from './subscription-change-lock.js';
import { paidFor, SubscriptionsRepository, type SubscriptionRecord } from './subscriptions.repository.js';
import { ENTITLEMENT_CACHE } from './subscriptions.service.js';
import { UnsettledCharges } from './unsettled-charges.js';
import { WebhookEventsRepository } from './webhook-events.repository.js';

/**
 * While a member's own change holds the subscription, an event waits this often, this long apart, before it is
 * refused (503) for the provider to deliver again: a change takes a charge's round trip, usually well under this.
 */
const LOCK_ATTEMPTS = 20;
const LOCK_RETRY_MS = 100;

/**
 * Applies provider events at most once: the event id is claimed before anything changes, a redelivery of an applied
 * event changes nothing, and a failure releases the claim (and answers 5xx) so the provider's retry applies it. A
 * delivery that crashed leaves a claim with a lease that runs out (WebhookEventsRepository), after which the next
 * delivery applies it. The event changes the subscription under the member's subscription-change lock, like the
 * member's own requests and the sweep; there it is applied only if no other delivery has applied it meanwhile (a claim
 * taken over from a delivery that outlived its lease). Renewals are also keyed by charge id, and refunds are idempotent
 * per charge, so applying an event a second time after a lost "applied" mark changes nothing.
 */
@Injectable()
export class SubscriptionWebhooksService {
  private readonly logger = new Logger(SubscriptionWebhooksService.name);

  constructor(
    private readonly claims: WebhookEventsRepository,
    private readonly subscriptions: SubscriptionsRepository,
    private readonly cache: TieredCache,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    @Inject(PAYMENT_PROVIDER) private readonly payments: PaymentProvider,
    private readonly unsettled: UnsettledCharges,
  ) {}

  async handle(provider: string, event: WebhookEventDto): Promise<WebhookReceiptDto> {
    // A provider sends types this API has no use for (those it adds over time, or all of them, as configured). Each
    // refused one would be delivered again for days, and a provider disables an endpoint that keeps failing, with the
    // renewals still to come. Nothing to apply, so nothing to claim.
    if (!isHandledEvent(event)) {
      this.logger.log(`Webhook ${provider}:${event.id} (${event.type}) ignored: not a type this API acts on`);
      return { received: true, duplicate: false, ignored: true };
    }
    const id = `${provider}:${event.id}`;
    const claim = await this.claims.claim(id, event.type);
    if (claim.outcome === 'applied') return { received: true, duplicate: true };
    // Not a duplicate yet: the delivery holding it may still fail, and then this one must be delivered again.
    if (claim.outcome === 'in-progress') {
      throw new ServiceUnavailableException('This event is being applied; deliver it again later');
    }
    try {
      const applied = await this.whileMemberChangesNothingElse(event.data.userId, async () => {
        if (await this.claims.isApplied(id)) return false;
        await this.apply(event);
        await this.claims.markApplied(id, event.type);
        return true;
      });
      return { received: true, duplicate: !applied };
    } catch (error) {
      // A failed release leaves the claim to its lease: the provider's delivery after that applies the event.
      await this.claims.release(id, claim.owner).catch((releaseError: unknown) => {
        this.logger.error(`Webhook ${id}: claim not released, it expires with its lease: ${String(releaseError)}`);
      });
      throw error;
    }
  }

  purgeOlderThan(cutoff: Date): Promise<number> {
    return this.claims.purgeOlderThan(cutoff);
  }

  /** Without Redis the lock helper refuses (503) too: the provider's retry is safer than an unguarded write. */
  private async whileMemberChangesNothingElse<T>(userId: string, apply: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await withSubscriptionChangeLock(this.redis, userId, apply);
      if (outcome.acquired) return outcome.value;
      if (attempt === LOCK_ATTEMPTS) {
        throw new ServiceUnavailableException('The subscription is being changed; deliver the event again later');
      }
      await sleep(LOCK_RETRY_MS);
    }
  }

  private async apply(event: HandledWebhookEvent): Promise<void> {
    const { id, type, data } = event;
    const chargeId = paidCharge(event);
    const record = await this.subscriptions.findForChange(data.userId).catch((error: unknown) => {
      if (!(error instanceof SubscriptionNeedsSupportException)) throw error;
      // Acknowledged, the payment it reports would be lost; refunded, a renewal the member paid for. The provider
      // delivers it again, and once support has repaired the record it applies.
      this.logger.error(`Webhook ${id} (${type}) not applied: ${error.message}`);
      throw new ServiceUnavailableException(
        "The member's subscription record needs repair by support; nothing applied, deliver the event again later",
      );
    });
    if (!record) {
      this.logger.warn(`Webhook ${id} (${type}) for a member without a subscription`);
      // A charge for a member who never subscribed (or whose subscription is gone) buys nothing either.
      if (chargeId) await this.refund(id, chargeId, data.userId);
      return;
    }
    // Refunded while its member had no subscription (by this or by the sweep), a charge is remembered in Redis only:
    // reported once the member had subscribed again, it renewed the new subscription for nothing. Refunded again
    // (idempotent), it is remembered in the subscription too.
    if (chargeId && !paidFor(record, chargeId) && (await this.unsettled.wasRefunded(chargeId))) {
      await this.refund(id, chargeId, data.userId);
      return;
    }
    // The provider reports a member's own charges too. One whose write failed (a subscribe or an upgrade noted for the
    // sweep) is no renewal: renewed with, the upgrade's platinum charge bought a month of premium and its retry was
    // refused. It is left to that retry, which applies it, or to the sweep, which refunds it.
    const unappliedChange =
      chargeId !== undefined &&
      renewable(record) &&
      !paidFor(record, chargeId) &&
      (await this.unsettled.isNoted({ userId: data.userId, chargeId }));
    if (unappliedChange) {
      this.logger.warn(`Webhook ${id}: charge ${chargeId} is a member's change not yet applied; left to its retry`);
      return;
    }
    const now = new Date();
    let changed: SubscriptionRecord | null;
    try {
      changed = chargeId
        ? await this.subscriptions.renew(record, chargeId, now)
        : await this.subscriptions.markPastDue(data.userId, now);
    } catch (error) {
      // Also when the write fails: it may have landed (its reply lost), or land later, and the redelivery then finds
      // the change made and changes nothing, so nothing else would drop the status cached from before it.
      await this.cache.invalidate(ENTITLEMENT_CACHE.name, [data.userId], [], { afterFailure: true });
      throw error;
    }
    await this.cache.invalidate(ENTITLEMENT_CACHE.name, [data.userId]);
    if (!changed) {
      this.logger.warn(`Webhook ${id} (${type}) did not apply to a ${record.status} subscription`);
      // A renewal charged after the member canceled (or after the subscription ended) buys nothing: give it back.
      if (chargeId && !paidFor(record, chargeId)) await this.refund(id, chargeId, data.userId);
    }
  }

  /**
   * Gives back a charge that bought nothing. Once per charge: the event is applied once, and the provider's refund is
   * idempotent per charge (PaymentProvider.refund), so the same charge reported under another event id is not refunded
   * twice. A failed refund releases the event's claim (handle), so the provider's redelivery tries again.
   */
  private async refund(eventId: string, chargeId: string, userId: string): Promise<void> {
    // Remembered first, like a refund of the member's own request: the charge may be one a subscribe made before it
    // died, whose retry with the same key gets it back from the processor (see SubscriptionsService.charge). In Redis
    // too, as the sweep remembers its refunds: a member who never subscribed has no document to remember it in, and
    // the retry of their first subscribe started a subscription paid by this refunded charge.
    await this.unsettled.markRefunded(chargeId);
    await this.subscriptions.rememberRefund(userId, chargeId);
    await this.payments.refund(chargeId);
    this.logger.warn(`Webhook ${eventId}: refunded charge ${chargeId}, which paid for nothing`);
  }
}

/** A subscription renew() may extend: live and not canceled. */
function renewable(record: SubscriptionRecord): boolean {
  return (record.status === 'active' || record.status === 'past_due') && !record.cancelAtPeriodEnd;
}

/** The charge an invoice.paid reports; undefined for a payment failure, which charged nothing. */
function paidCharge({ type, data }: HandledWebhookEvent): string | undefined {
  if (type !== 'invoice.paid') return undefined;
  // The DTO refuses such an event before it is claimed (ChargeIdWhenPaid); this keeps the type honest.
  if (!data.chargeId) throw new BadRequestException('data.chargeId is required for invoice.paid');
  return data.chargeId;
}
