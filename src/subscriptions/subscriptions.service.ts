import {
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  HttpException,
  HttpStatus,
  UnprocessableEntityException,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CacheEvict, Cacheable } from '../cache/cache.decorators.js';
import { invalidField } from '../common/problem/validation-exception.factory.js';
import { REDIS_CLIENT } from '../redis/redis.constants.js';
import { ANSWER_KEPT_MS, RetryableConflictException } from './idempotency.service.js';
import {
  PAYMENT_PROVIDER,
  PaymentDeclinedError,
  PaymentKeyReusedError,
  type PaymentProvider,
} from './payment-provider.js';
import { PERIOD_MS, PLANS, RENEWAL_WAIT_MS, type Plan, type PlanId } from './plans.js';
import { withSubscriptionChangeLock } from './subscription-change-lock.js';
import type { PaymentKeyUse } from './subscription.schema.js';
import { toSubscriptionView, type SubscriptionView } from './subscription.view.js';
import { UnsettledCharges } from './unsettled-charges.js';
import {
  awaitsRenewal,
  hasEndedByCancellation,
  paidFor,
  planAt,
  SubscriptionsRepository,
  wasRefunded,
  type SubscriptionRecord,
} from './subscriptions.repository.js';

/** How many of a member's payment keys the subscription keeps (see withPaymentKey). */
export const PAYMENT_KEYS_KEPT = 20;

/**
 * What premium checks read on every request: the plan and the end of its paid period, cached and evicted by every
 * state change below. (Named for this shape; entries of the earlier `subscription-status`, a bare plan id, are
 * never read.)
 */
export const ENTITLEMENT_CACHE = { name: 'subscription-entitlement', key: (userId: string) => userId, ttlS: 300 };
export interface EntitlementState {
  plan: PlanId;
  paidUntilMs: number;
  /** See awaitsRenewal(). */
  renews?: boolean;
  /** The plan that applies until `previousUntilMs` (Subscription.previousPlan); absent when none does. */
  previousPlan?: PlanId;
  previousUntilMs?: number;
}
const FREE: EntitlementState = { plan: 'free', paidUntilMs: 0 };
const EVICT_ENTITLEMENT = { name: ENTITLEMENT_CACHE.name, keys: (user: AuthenticatedUser) => [user.id] };

@Injectable()
export class SubscriptionsService {
  private readonly logger = new Logger(SubscriptionsService.name);

  constructor(
    private readonly subscriptions: SubscriptionsRepository,
    @Inject(PAYMENT_PROVIDER) private readonly payments: PaymentProvider,
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly unsettled: UnsettledCharges,
  ) {}

  /**
   * The plan whose features the member has now: a live subscription within its paid period (or within the wait for
   * its renewal's confirmation), else free. The period is checked against the clock on every call, so neither the
   * cache nor an overdue sweep extends access.
   */
  async entitlement(userId: string): Promise<PlanId> {
    const { plan, paidUntilMs, renews, previousPlan, previousUntilMs = 0 } = await this.entitlementState(userId);
    const now = Date.now();
    if (paidUntilMs + (renews ? RENEWAL_WAIT_MS : 0) <= now) return 'free';
    return previousPlan && now < previousUntilMs ? previousPlan : plan;
  }

  /** The cached part of entitlement(): the live subscription's plan and period end (0 when there is none). */
  @Cacheable(ENTITLEMENT_CACHE)
  entitlementState(userId: string): Promise<EntitlementState> {
    return this.loadEntitlementState(userId);
  }

  async loadEntitlementState(userId: string): Promise<EntitlementState> {
    const subscription = await this.subscriptions.findByUser(userId);
    const live = subscription && (subscription.status === 'active' || subscription.status === 'past_due');
    if (!live) return FREE;
    const renews = awaitsRenewal(subscription);
    const state = { plan: subscription.plan, paidUntilMs: subscription.currentPeriodEnd.getTime(), renews };
    if (planAt(subscription, new Date()) === subscription.plan) return state;
    return {
      ...state,
      previousPlan: subscription.previousPlan!,
      previousUntilMs: subscription.currentPeriodStart.getTime(),
    };
  }

  /** Whose subscription status cache warming loads: members with a live subscription, newest period first. */
  liveMembers(limit: number): Promise<string[]> {
    return this.subscriptions.liveMembers(limit);
  }

  async mine(user: AuthenticatedUser): Promise<SubscriptionView> {
    const subscription = await this.subscriptions.findByUser(user.id);
    if (!subscription) throw new NotFoundException('No subscription: the free plan applies');
    return toSubscriptionView(subscription);
  }

  /** Charges the catalogue price, then records the subscription; refunds if another one won the race. */
  @CacheEvict(EVICT_ENTITLEMENT)
  async subscribe(
    user: AuthenticatedUser,
    planId: PlanId,
    paymentToken: string,
    idempotencyKey: string,
  ): Promise<SubscriptionView> {
    return this.oneChangeAtATime(user, () => this.start(user, planId, paymentToken, idempotencyKey));
  }

  private async start(
    user: AuthenticatedUser,
    planId: PlanId,
    paymentToken: string,
    idempotencyKey: string,
  ): Promise<SubscriptionView> {
    const plan = paidPlan(planId);
    const current = await this.subscriptions.findForChange(user.id);
    if (current?.status === 'past_due') {
      throw new ConflictException('The subscription is past due: cancel it, then subscribe again');
    }
    const key = paymentKey(user.id, 'subscribe', plan.id, idempotencyKey);
    if (current?.status === 'active' && !hasEndedByCancellation(current, new Date())) {
      if (appliedBy(current, key)) return toSubscriptionView(current);
      throw new ConflictException(`Already subscribed to ${current.plan}: change the plan instead`);
    }
    const chargeId = await this.charge(plan, paymentToken, key, current);
    const started = await this.paidWrite(user, chargeId, () =>
      this.subscriptions.start(user.id, {
        plan: plan.id,
        chargeId,
        paymentKeys: withPaymentKey(current, key),
        ...newPeriod(plan),
      }),
    );
    if (!started) return this.appliedOrRefunded(user, chargeId, 'Another subscription started meanwhile');
    return toSubscriptionView(started);
  }

  /** Upgrades start a new paid period at once; downgrades wait for the end of the paid one. */
  @CacheEvict(EVICT_ENTITLEMENT)
  async changePlan(
    user: AuthenticatedUser,
    planId: PlanId,
    paymentToken: string | undefined,
    idempotencyKey: string,
  ): Promise<SubscriptionView> {
    return this.oneChangeAtATime(user, () => this.switchPlan(user, planId, paymentToken, idempotencyKey));
  }

  private async switchPlan(
    user: AuthenticatedUser,
    planId: PlanId,
    paymentToken: string | undefined,
    idempotencyKey: string,
  ): Promise<SubscriptionView> {
    const current = await this.activeOf(user);
    const key = paymentKey(user.id, 'change-plan', planId, idempotencyKey);
    if (appliedBy(current, key)) return toSubscriptionView(current);
    // Over, though `active` until the sweep: an upgrade charged for a period that would not renew (a subscribe starts
    // one that does) and a downgrade waited for a next period that never comes. After the sweep both are 409 anyway.
    if (hasEndedByCancellation(current, new Date())) throw endedWithItsPeriod();
    const paymentKeys = withPaymentKey(current, key);
    if (current.plan === planId) {
      // Staying on the current plan takes back a scheduled downgrade; nothing is charged.
      if (!current.pendingPlan) throw new ConflictException(`Already on ${planId}`);
      return toSubscriptionView(
        orConflict(await this.subscriptions.scheduleDowngrade(user.id, current.plan, null, paymentKeys)),
      );
    }
    const target = PLANS[planId];
    if (target.rank < PLANS[current.plan].rank) {
      if (target.id === 'free') throw invalidField('plan', 'To leave the paid plans, cancel the subscription');
      return toSubscriptionView(
        orConflict(await this.subscriptions.scheduleDowngrade(user.id, current.plan, target.id, paymentKeys)),
      );
    }
    if (!paymentToken) throw invalidField('paymentToken', 'An upgrade is charged: paymentToken is required');
    // A renewal confirmed early paid for a period that has not started: an upgrade now would start its own period and
    // drop that paid month (there is no proration to credit it). The member upgrades once it has started.
    if (current.currentPeriodStart.getTime() > Date.now()) {
      throw new ConflictException(
        `The next period, paid for on ${current.plan}, starts at ${current.currentPeriodStart.toISOString()}: ` +
          'upgrade once it has started',
      );
    }
    // Its period over and the renewal not yet confirmed (within RENEWAL_WAIT_MS): the provider's charge for the next
    // period, at the current plan's price, is on its way, and renew() would add that month to the upgrade's fresh
    // period: a month of platinum bought at premium's price (until 2026-12-07). The member upgrades once the renewal
    // is confirmed; one that fails leaves the subscription past due.
    if (awaitsRenewal(current) && current.currentPeriodEnd.getTime() <= Date.now()) {
      throw new ConflictException(
        `The renewal of the ${current.plan} period that ended at ${current.currentPeriodEnd.toISOString()} is not ` +
          'confirmed yet: upgrade once it is',
      );
    }
    const chargeId = await this.charge(target, paymentToken, key, current);
    const upgraded = await this.paidWrite(user, chargeId, () =>
      this.subscriptions.upgrade(user.id, current.plan, {
        plan: target.id,
        chargeId,
        paymentKeys,
        ...newPeriod(target),
      }),
    );
    if (!upgraded) return this.appliedOrRefunded(user, chargeId, 'The subscription changed meanwhile');
    return toSubscriptionView(upgraded);
  }

  /**
   * Stays active until the paid period ends, then expires instead of renewing. A past-due subscription (its renewal
   * failed) ends at once: its member can neither change nor restart it, and would otherwise be renewed and charged
   * by the provider's next retry of the payment they meant to stop.
   */
  @CacheEvict(EVICT_ENTITLEMENT)
  cancel(user: AuthenticatedUser): Promise<SubscriptionView> {
    return this.oneChangeAtATime(user, async () => {
      const current = await this.subscriptions.findForChange(user.id);
      if (current?.status === 'past_due')
        return toSubscriptionView(orConflict(await this.subscriptions.endPastDue(user.id)));
      await this.activeOf(user);
      return toSubscriptionView(orConflict(await this.subscriptions.cancelAtPeriodEnd(user.id), 'Already canceled'));
    });
  }

  @CacheEvict(EVICT_ENTITLEMENT)
  resume(user: AuthenticatedUser): Promise<SubscriptionView> {
    return this.oneChangeAtATime(user, async () => {
      const current = await this.activeOf(user);
      const now = new Date();
      if (hasEndedByCancellation(current, now)) throw endedWithItsPeriod();
      return toSubscriptionView(orConflict(await this.subscriptions.resume(user.id, now), 'Not canceled'));
    });
  }

  /**
   * The write a charge pays for. The charge is noted as unsettled before it and forgotten after it answers: one whose
   * write fails (applied or not) or whose process dies before the write stays noted, and the sweep refunds it unless
   * the subscription shows it by then (a retry with the same key applies it meanwhile: the processor gives that retry
   * the same charge), and the provider's report of it renews nothing (SubscriptionWebhooksService). Noted only after a
   * failed write until 2026-12-06, a charge whose process died first was noted nowhere. Not noted (Redis failed), a
   * failed write is logged for a refund by hand.
   */
  private async paidWrite<T>(user: AuthenticatedUser, chargeId: string, write: () => Promise<T>): Promise<T> {
    const charge = { userId: user.id, chargeId };
    const noteFailure = await this.unsettled.note(charge).then(
      () => undefined,
      (noteError: Error) => noteError,
    );
    let written: T;
    try {
      written = await write();
    } catch (error) {
      if (noteFailure) {
        this.logger.error(
          `Charge ${chargeId} of member ${user.id} may pay for nothing and is not noted for the sweep ` +
            `(${noteFailure.message}): refund it by hand unless the subscription's chargeIds hold it`,
        );
      }
      throw error;
    }
    // Left noted if this fails: the sweep finds the charge applied (or refunded by appliedOrRefunded) and forgets it.
    if (!noteFailure) await this.unsettled.forget(charge).catch(() => undefined);
    return written;
  }

  /**
   * After a write that no longer applied. The processor makes one charge per key, so two runs of one request (a retry
   * that took over a key whose lease lapsed while the first run was stalled) get the same charge: if it already pays
   * for the subscription, the other run applied it, and that is the answer. Any other charge is refunded, and
   * remembered first (charge()): should the refund fail, the key's retry gets the charge back and refunds it then.
   */
  private async appliedOrRefunded(
    user: AuthenticatedUser,
    chargeId: string,
    conflict: string,
  ): Promise<SubscriptionView> {
    const current = await this.subscriptions.findForChange(user.id);
    if (current && paidFor(current, chargeId)) return toSubscriptionView(current);
    // Not remembered, the refund is still made: the retry of this request answers "already subscribed" before it
    // charges, and would never make it.
    await this.subscriptions.rememberRefund(user.id, chargeId).catch((error: Error) => {
      this.logger.warn(`Charge ${chargeId} to refund not remembered (${error.message}); refunding all the same`);
    });
    await this.payments.refund(chargeId);
    throw new ConflictException(`${conflict}; this charge was refunded`);
  }

  /**
   * A member's subscription changes one request at a time. The writes below are conditional on the state they read,
   * which MongoDB applies atomically but FerretDB does not (it reads, then writes, without a lock): there, six of
   * twenty simultaneous upgrades each won and were charged. The lock holds on both, and a request that loses it is
   * refused before anything is charged. Without Redis, changes are refused (503) rather than left unguarded.
   */
  private async oneChangeAtATime<T>(user: AuthenticatedUser, change: () => Promise<T>): Promise<T> {
    const outcome = await withSubscriptionChangeLock(this.redis, user.id, change);
    if (!outcome.acquired) {
      throw new RetryableConflictException('Another change to this subscription is in progress; retry');
    }
    return outcome.value;
  }

  private async activeOf(user: AuthenticatedUser): Promise<SubscriptionRecord> {
    const current = await this.subscriptions.findForChange(user.id);
    if (!current) throw new NotFoundException('No subscription: subscribe first');
    if (current.status !== 'active') throw new ConflictException(`The subscription is ${current.status}`);
    return current;
  }

  /**
   * Charges once per key. A processor may keep keys longer than the stored answers (24 h here; some keep them for
   * days), so a member's key reused after its answer was purged can get back the charge that already paid for an
   * earlier period of this subscription, or one refunded when its change no longer applied (appliedOrRefunded): it
   * pays for nothing now, and is refused rather than granting a free period. A refunded one is refunded again (a
   * processor's refunds are idempotent), in case its first refund failed.
   */
  private async charge(
    plan: Plan,
    paymentToken: string,
    idempotencyKey: string,
    current: SubscriptionRecord | null,
  ): Promise<string> {
    let chargeId: string;
    try {
      const charge = await this.payments.charge({
        paymentToken,
        amountMinor: plan.priceMinor,
        currency: plan.currency,
        idempotencyKey,
      });
      chargeId = charge.id;
    } catch (error) {
      if (error instanceof PaymentDeclinedError) throw new HttpException(error.message, HttpStatus.PAYMENT_REQUIRED);
      if (error instanceof PaymentKeyReusedError) throw keyReused();
      throw error;
    }
    if (current && paidFor(current, chargeId)) throw keyReused();
    // Unread (Redis failing), a charge counts as not refunded: thrown here, it would pay for nothing and be noted
    // nowhere, while a sweep's refund given back now and taken is the rarer and smaller loss.
    const refundedBySweep = await this.unsettled.wasRefunded(chargeId).catch(() => false);
    if ((current && wasRefunded(current, chargeId)) || refundedBySweep) {
      await this.payments.refund(chargeId);
      throw keyReused();
    }
    return chargeId;
  }
}

/** A canceled subscription whose paid period is over: it can be restarted (subscribe), not changed or resumed. */
function endedWithItsPeriod(): ConflictException {
  return new ConflictException('The canceled subscription ended with its paid period: subscribe again');
}

function keyReused(): UnprocessableEntityException {
  return new UnprocessableEntityException('This Idempotency-Key was used for another payment; use a new key');
}

/**
 * The key the processor charges once under. It names the operation and plan as well as the member's key: a key
 * reused after its stored answer was purged (24 h) would otherwise get an earlier, different charge back.
 */
export function paymentKey(
  userId: string,
  operation: 'subscribe' | 'change-plan',
  planId: PlanId,
  idempotencyKey: string,
): string {
  return `${userId}:${operation}:${planId}:${idempotencyKey}`;
}

/**
 * Whether a run of this very request (same member, operation, plan and Idempotency-Key) already applied its change:
 * one that died before storing its answer. Its retry answers with the subscription, not "already subscribed" or
 * "already on that plan".
 */
function appliedBy(current: SubscriptionRecord, key: string): boolean {
  return recentPaymentKeys(current).some((use) => use.key === key);
}

/**
 * The member's payment keys used within the time their answers are kept, and `key`, used now: the newest
 * PAYMENT_KEYS_KEPT. Downgrades and their take-backs cost nothing, so without a cap a member flipping between two plans
 * would grow the document by every request the rate limit lets through; a retry comes long before that many changes.
 */
function withPaymentKey(current: SubscriptionRecord | null, key: string): PaymentKeyUse[] {
  return [...(current ? recentPaymentKeys(current) : []), { key, at: new Date() }].slice(-PAYMENT_KEYS_KEPT);
}

function recentPaymentKeys(current: SubscriptionRecord): PaymentKeyUse[] {
  const since = Date.now() - ANSWER_KEPT_MS;
  return current.recentPaymentKeys.filter((use) => use.at.getTime() > since);
}

function paidPlan(planId: PlanId): Plan {
  const plan = PLANS[planId];
  if (plan.priceMinor === 0) throw invalidField('plan', 'The free plan needs no subscription');
  return plan;
}

function newPeriod(plan: Plan): { start: Date; end: Date } {
  const start = new Date();
  return { start, end: new Date(start.getTime() + PERIOD_MS[plan.billingPeriod]) };
}

function orConflict(
  record: SubscriptionRecord | null,
  detail = 'The subscription changed meanwhile',
): SubscriptionRecord {
  if (!record) throw new ConflictException(detail);
  return record;
}
