import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Types, type QueryFilter, type Model, type UpdateQuery } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { PERIOD_MS, RENEWAL_WAIT_MS, type PlanId } from './plans.js';
import { Subscription, type PaymentKeyUse, type SubscriptionStatus } from './subscription.schema.js';

export type SubscriptionRecord = Subscription & { _id: Types.ObjectId };

const LIVE: SubscriptionStatus[] = ['active', 'past_due'];

interface Period {
  plan: PlanId;
  start: Date;
  end: Date;
  chargeId: string;
  /** The member's recent payment keys with the one this change charged under (see Subscription.recentPaymentKeys). */
  paymentKeys: PaymentKeyUse[];
}

/**
 * Every write is one conditional update on the member's document: the filter names the state the
 * change starts from, so a change that no longer applies matches nothing (the caller answers 409).
 * FerretDB evaluates the filter and writes without a lock, so callers hold the member's
 * subscription-change lock (subscription-change-lock.ts) around these writes.
 */
@Injectable()
export class SubscriptionsRepository {
  constructor(@InjectModel(Subscription.name) private readonly subscriptions: Model<Subscription>) {}

  findByUser(userId: string): Promise<SubscriptionRecord | null> {
    return this.subscriptions.findOne({ userId: new Types.ObjectId(userId) }).lean<SubscriptionRecord>();
  }

  /** Members with a live subscription, the most recently started or renewed first (cache warming). */
  async liveMembers(limit: number): Promise<string[]> {
    const rows = await this.subscriptions
      .find({ status: { $in: ['active', 'past_due'] } }, { userId: 1 })
      .sort({ currentPeriodStart: -1 })
      .limit(limit)
      .lean<{ userId: Types.ObjectId }[]>();
    return rows.map((row) => String(row.userId));
  }

  /** A new subscription, or a new start after cancellation or expiry; null if one is live. */
  async start(userId: string, period: Period): Promise<SubscriptionRecord | null> {
    const fields = {
      plan: period.plan,
      status: 'active' as const,
      currentPeriodStart: period.start,
      currentPeriodEnd: period.end,
      cancelAtPeriodEnd: false,
      pendingPlan: null,
    };
    const owner = new Types.ObjectId(userId);
    const over: QueryFilter<Subscription> = { $or: [{ status: { $nin: LIVE } }, endedByCancellation(period.start)] };
    const restarted = await this.subscriptions
      .findOneAndUpdate({ userId: owner, ...over }, paidBy(period, fields), { returnDocument: 'after' })
      .lean<SubscriptionRecord>();
    if (restarted) return restarted;
    try {
      const created = {
        userId: owner,
        ...fields,
        lastChargeId: period.chargeId,
        chargeIds: [period.chargeId],
        recentPaymentKeys: period.paymentKeys,
      };
      return (await this.subscriptions.create(created)).toObject();
    } catch (error) {
      if (isDuplicateKeyError(error)) return null;
      throw error;
    }
  }

  /**
   * An upgrade: the new plan and a new paid period start now. A cancellation stays: the member who canceled expects
   * no renewal until they resume, so the upgraded period ends without one.
   */
  upgrade(userId: string, from: PlanId, period: Period): Promise<SubscriptionRecord | null> {
    return this.update(
      { status: 'active', plan: from },
      paidBy(period, {
        plan: period.plan,
        currentPeriodStart: period.start,
        currentPeriodEnd: period.end,
        pendingPlan: null,
      }),
      userId,
    );
  }

  /**
   * A downgrade takes effect when the paid period ends; until then the member keeps what they paid
   * for. `to: null` takes a scheduled downgrade back. `paymentKeys` as for a paid change: the request's key joins them.
   */
  scheduleDowngrade(
    userId: string,
    from: PlanId,
    to: PlanId | null,
    paymentKeys: PaymentKeyUse[],
  ): Promise<SubscriptionRecord | null> {
    return this.update(
      { status: 'active', plan: from },
      { $set: { pendingPlan: to, recentPaymentKeys: paymentKeys } },
      userId,
    );
  }

  cancelAtPeriodEnd(userId: string): Promise<SubscriptionRecord | null> {
    return this.update({ status: 'active', cancelAtPeriodEnd: false }, { $set: { cancelAtPeriodEnd: true } }, userId);
  }

  /** Takes a cancellation back while its paid period lasts; once it has ended, so has the subscription. */
  resume(userId: string, now: Date): Promise<SubscriptionRecord | null> {
    return this.update(
      { status: 'active', cancelAtPeriodEnd: true, currentPeriodEnd: { $gt: now } },
      { $set: { cancelAtPeriodEnd: false } },
      userId,
    );
  }

  /**
   * A past-due subscription canceled by its member: its paid period is already over, so it ends now rather than at a
   * period end. A renewal the provider charges later renews nothing and is refunded (SubscriptionWebhooksService).
   */
  endPastDue(userId: string): Promise<SubscriptionRecord | null> {
    return this.update({ status: 'past_due' }, { $set: { status: 'canceled', cancelAtPeriodEnd: true } }, userId);
  }

  /** Newest first, strictly below `beforeId` (cursor paging that new subscriptions never shift). */
  list(
    filter: { status?: SubscriptionStatus; plan?: PlanId; beforeId?: Types.ObjectId },
    limit: number,
  ): Promise<SubscriptionRecord[]> {
    const query: Record<string, unknown> = {};
    if (filter.status) query.status = filter.status;
    if (filter.plan) query.plan = filter.plan;
    if (filter.beforeId) query._id = { $lt: filter.beforeId };
    return this.subscriptions.find(query).sort({ _id: -1 }).limit(limit).lean<SubscriptionRecord[]>();
  }

  /** Members whose subscription is in `from` with a period that ended before `endedBefore` (a sweep's batch). */
  async ended(from: Partial<Subscription>, endedBefore: Date, limit: number): Promise<SubscriptionRecord[]> {
    return this.subscriptions
      .find({ ...from, currentPeriodEnd: { $lte: endedBefore } })
      .limit(limit)
      .lean<SubscriptionRecord[]>();
  }

  /** Moves one subscription on, only if it is still where the sweep found it; false if it moved meanwhile. */
  async transition(record: SubscriptionRecord, from: Partial<Subscription>, to: SubscriptionStatus): Promise<boolean> {
    const result = await this.subscriptions.updateOne(
      { _id: record._id, ...from, currentPeriodEnd: record.currentPeriodEnd },
      { $set: { status: to } },
    );
    return result.modifiedCount === 1;
  }

  /**
   * A confirmed renewal: the next period (on the pending plan, if a downgrade waits), once per charge — a charge that
   * already paid for a period (a redelivery under a new event id, or the start's or an upgrade's charge reported late)
   * changes nothing.
   */
  renew(record: SubscriptionRecord, chargeId: string, now: Date): Promise<SubscriptionRecord | null> {
    // The next period follows the paid one when the member kept the plan until now (its end not reached, or within
    // the renewal wait): the hours the confirmation took are part of it, not given on top. Otherwise it starts now.
    // Kept means before keptUntil, as entitlement() and the sweep count it: at keptUntil itself the plan is lost (until
    // 2026-12-06 a renewal confirmed at that millisecond still continued the paid period).
    const keptUntil = record.currentPeriodEnd.getTime() + (awaitsRenewal(record) ? RENEWAL_WAIT_MS : 0);
    const plan = record.pendingPlan ?? record.plan;
    // Charged again before the period an early renewal paid for has begun, on its plan: the month joins that period,
    // whose start still ends the plan before it (previousPlan), so neither plan loses any of its time.
    const paidAhead = record.currentPeriodStart > now && plan === record.plan;
    const start = paidAhead ? record.currentPeriodStart : now.getTime() < keptUntil ? record.currentPeriodEnd : now;
    const end = new Date((paidAhead ? record.currentPeriodEnd : start).getTime() + PERIOD_MS.month);
    // Confirmed before the paid period ended, a downgrade starts with the next period, not now; until then the plan
    // that applies now stays.
    const applies = planAt(record, now);
    const previousPlan = paidAhead ? record.previousPlan : start > now && plan !== applies ? applies : null;
    return this.subscriptions
      .findOneAndUpdate(
        {
          _id: record._id,
          status: { $in: LIVE },
          cancelAtPeriodEnd: false,
          currentPeriodEnd: record.currentPeriodEnd,
          chargeIds: { $ne: chargeId },
          // Documents written before chargeIds existed know only their last charge.
          lastChargeId: { $ne: chargeId },
          // Refunded (it renewed nothing when first reported), a charge reported again buys nothing either.
          refundedChargeIds: { $ne: chargeId },
        },
        paidBy(
          { chargeId },
          {
            status: 'active',
            plan,
            previousPlan,
            pendingPlan: null,
            currentPeriodStart: start,
            currentPeriodEnd: end,
          },
        ),
        { returnDocument: 'after' },
      )
      .lean<SubscriptionRecord>();
  }

  /** A charge of the member's that is being refunded: see Subscription.refundedChargeIds. */
  async rememberRefund(userId: string, chargeId: string): Promise<void> {
    await this.subscriptions.updateOne(
      { userId: new Types.ObjectId(userId) },
      { $addToSet: { refundedChargeIds: chargeId } },
    );
  }

  /**
   * A failed renewal, only once the paid period is over: a failure reported late, after the member paid for the
   * current period, must not take it away. A member who canceled is left for the sweep to cancel.
   */
  markPastDue(userId: string, now: Date): Promise<SubscriptionRecord | null> {
    return this.update(
      { status: 'active', cancelAtPeriodEnd: false, currentPeriodEnd: { $lte: now } },
      { $set: { status: 'past_due' } },
      userId,
    );
  }

  private update(
    from: QueryFilter<Subscription>,
    changes: UpdateQuery<Subscription>,
    userId: string,
  ): Promise<SubscriptionRecord | null> {
    return this.subscriptions
      .findOneAndUpdate({ userId: new Types.ObjectId(userId), ...from }, changes, { returnDocument: 'after' })
      .lean<SubscriptionRecord>();
  }
}

/**
 * A canceled subscription whose paid period is over: ended, though still `active` until the sweep marks it `canceled`
 * (every SUBSCRIPTION_SWEEP_INTERVAL_MS, and never without a worker). It can be restarted, not resumed.
 */
function endedByCancellation(now: Date): QueryFilter<Subscription> {
  return { status: 'active', cancelAtPeriodEnd: true, currentPeriodEnd: { $lte: now } };
}

/** The plan that applies at `now`: the previous one until a period that an early renewal confirmed starts. */
export function planAt(
  record: Pick<SubscriptionRecord, 'plan' | 'previousPlan' | 'currentPeriodStart'>,
  now: Date,
): PlanId {
  return record.previousPlan && now < record.currentPeriodStart ? record.previousPlan : record.plan;
}

/** Active and not canceled: its renewal is expected, and it keeps its plan for RENEWAL_WAIT_MS past the period. */
export function awaitsRenewal(record: SubscriptionRecord): boolean {
  return record.status === 'active' && !record.cancelAtPeriodEnd;
}

/** endedByCancellation() for a record in hand. */
export function hasEndedByCancellation(record: SubscriptionRecord, now: Date): boolean {
  return record.status === 'active' && record.cancelAtPeriodEnd && record.currentPeriodEnd <= now;
}

/**
 * A change paid for by `chargeId`, which is remembered so that it never pays for another period, and, but for renewals
 * (charged by the provider), by a member's request, whose key joins their recent ones for its retries.
 */
function paidBy(
  { chargeId, paymentKeys }: { chargeId: string; paymentKeys?: PaymentKeyUse[] },
  changes: Partial<Subscription>,
): UpdateQuery<Subscription> {
  return {
    $set: { ...changes, lastChargeId: chargeId, ...(paymentKeys && { recentPaymentKeys: paymentKeys }) },
    $addToSet: { chargeIds: chargeId },
  };
}

/** Whether this API refunded the charge because it bought nothing (Subscription.refundedChargeIds). */
export function wasRefunded(record: SubscriptionRecord, chargeId: string): boolean {
  // A lean read applies no schema defaults: older documents have no refundedChargeIds.
  return (record.refundedChargeIds ?? []).includes(chargeId);
}

/** Whether the charge already paid for a period of this subscription (its start, an upgrade or a renewal). */
export function paidFor(record: SubscriptionRecord, chargeId: string): boolean {
  // A lean read applies no schema defaults: documents older than chargeIds have none.
  return (record.chargeIds ?? []).includes(chargeId) || record.lastChargeId === chargeId;
}
