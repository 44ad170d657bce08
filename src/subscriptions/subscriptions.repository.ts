import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import { Types, type QueryFilter, type Model, type UpdateQuery } from 'mongoose';
import { isDuplicateKeyError } from '../database/mongo-errors.js';
import { PERIOD_MS, RENEWAL_WAIT_MS, type PlanId } from './plans.js';
import {
  isDamaged,
  memberOf,
  NULL_MEANS_DEFAULT,
  readStored,
  readWithForeignId,
  SubscriptionNeedsSupportException,
  type DamagedSubscription,
  type StoredSubscription,
} from './stored-subscription.js';
import { Subscription, type PaymentKeyUse, type SubscriptionStatus } from './subscription.schema.js';

export type SubscriptionRecord = Subscription & { _id: Types.ObjectId };

const LIVE: SubscriptionStatus[] = ['active', 'past_due'];

function listFilter(filter: { status?: SubscriptionStatus; plan?: PlanId }): Record<string, unknown> {
  return { ...(filter.status && { status: filter.status }), ...(filter.plan && { plan: filter.plan }) };
}

/**
 * Not canceled at period end: false, or missing in a document older than the field (the default). A filter on `false`
 * matched no such document: its cancel and renewals did not apply (the renewal's charge was refunded), and the sweep
 * never marked it past due.
 */
export const NOT_CANCELED = { $ne: true } as const;

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

  /** The member's subscription; SubscriptionNeedsSupportException (409) when it cannot be read (readStored). */
  async findByUser(userId: string): Promise<SubscriptionRecord | null> {
    const stored = await this.stored(userId);
    return stored && this.record(stored);
  }

  /**
   * findByUser for a change, under the member's subscription-change lock: an array a hand edit set to null becomes the
   * empty array it defaults to, as the changes add to chargeIds and refundedChargeIds with $addToSet, which refuses a
   * null (a 500, once the member was charged). Never on a read: FerretDB writes back the whole document it read, and
   * reads hold no lock, so a read's repair put back the state a change had just replaced (a cancel answered 200 lost).
   */
  async findForChange(userId: string): Promise<SubscriptionRecord | null> {
    const stored = await this.stored(userId);
    if (!stored) return null;
    const nulls = NULL_MEANS_DEFAULT.filter((field) => stored[field] === null);
    const record = this.record(stored);
    if (nulls.length > 0) {
      const defaults = Object.fromEntries(nulls.map((field) => [field, record[field]]));
      const stillNull = Object.fromEntries(nulls.map((field) => [field, null]));
      await this.subscriptions.updateOne({ _id: record._id, ...stillNull }, { $set: defaults });
    }
    return record;
  }

  /**
   * Members with a live subscription, the most recently started or renewed first (cache warming). One whose userId is
   * no ObjectId (a hand edit or an import without types: missing, text, a number) names no member to load a status for:
   * read as text ("undefined"), its load threw, not as a damaged subscription, and ended every warm run. Left out.
   */
  async liveMembers(limit: number): Promise<string[]> {
    const rows = await this.subscriptions
      .find({ status: { $in: ['active', 'past_due'] } }, { userId: 1 })
      .sort({ currentPeriodStart: -1 })
      .limit(limit)
      .lean<{ _id: Types.ObjectId; userId: unknown }[]>();
    return rows.flatMap((row) => memberOf(row, 'its plan is not warmed') ?? []);
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
      .lean<StoredSubscription>();
    if (restarted) return this.record(restarted);
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
    return this.update(
      { status: 'active', cancelAtPeriodEnd: NOT_CANCELED },
      { $set: { cancelAtPeriodEnd: true } },
      userId,
    );
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

  /**
   * Newest first, strictly below `beforeId` (cursor paging that new subscriptions never shift). A record that cannot be
   * read comes as its damage, in its place, so that one such record neither fails the list nor shifts its pages. Only
   * records with an ObjectId `_id` page (see withForeignIds).
   */
  async list(
    filter: { status?: SubscriptionStatus; plan?: PlanId; beforeId?: Types.ObjectId },
    limit: number,
  ): Promise<(SubscriptionRecord | DamagedSubscription)[]> {
    const query = {
      ...listFilter(filter),
      _id: { $type: 'objectId', ...(filter.beforeId && { $lt: filter.beforeId }) },
    };
    const stored = await this.subscriptions.find(query).sort({ _id: -1 }).limit(limit).lean<StoredSubscription[]>();
    return stored.map((one) => readStored(this.subscriptions, one));
  }

  /**
   * Up to `limit` records stored with an `_id` that is no ObjectId (an import without types), as damage. They sort
   * after every ObjectId and no cursor below one reaches them: paged with the others, they were never listed past the
   * first page, and one ending a page failed the list (500).
   */
  async withForeignIds(
    filter: { status?: SubscriptionStatus; plan?: PlanId },
    limit: number,
  ): Promise<ReturnType<typeof readWithForeignId>[]> {
    const stored = await this.subscriptions
      .find({ ...listFilter(filter), _id: { $not: { $type: 'objectId' } } })
      .limit(limit)
      .lean<Record<string, unknown>[]>();
    return stored.map((one) => readWithForeignId(this.subscriptions, one));
  }

  /**
   * Up to `limit` subscriptions in `from` with a period that ended before `endedBefore`, but those `passedOver` (a
   * sweep's batch). A record that cannot be read (logged by readStored) is left out of `records` and named in
   * `damaged`, for the sweep to pass over in its next batch: it is never moved, so without that a rule matching `limit`
   * damaged records (an import with an unknown plan) found only them in every batch, and moved no member again.
   */
  async ended(
    from: QueryFilter<Subscription>,
    endedBefore: Date,
    limit: number,
    passedOver: readonly Types.ObjectId[],
  ): Promise<{ records: SubscriptionRecord[]; damaged: Types.ObjectId[]; full: boolean }> {
    const stored = await this.subscriptions
      .find({
        ...from,
        currentPeriodEnd: { $lte: endedBefore },
        ...(passedOver.length > 0 && { _id: { $nin: passedOver } }),
      })
      .limit(limit)
      .lean<StoredSubscription[]>();
    const records: SubscriptionRecord[] = [];
    const damaged: Types.ObjectId[] = [];
    for (const one of stored) {
      const read = readStored(this.subscriptions, one);
      if (isDamaged(read)) damaged.push(one._id);
      else records.push(read);
    }
    return { records, damaged, full: stored.length === limit };
  }

  /** Moves one subscription on, only if it is still where the sweep found it; false if it moved meanwhile. */
  async transition(
    record: SubscriptionRecord,
    from: QueryFilter<Subscription>,
    to: SubscriptionStatus,
  ): Promise<boolean> {
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
          cancelAtPeriodEnd: NOT_CANCELED,
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
      .lean<StoredSubscription>()
      .then((stored) => stored && this.record(stored));
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
      { status: 'active', cancelAtPeriodEnd: NOT_CANCELED, currentPeriodEnd: { $lte: now } },
      { $set: { status: 'past_due' } },
      userId,
    );
  }

  private async update(
    from: QueryFilter<Subscription>,
    changes: UpdateQuery<Subscription>,
    userId: string,
  ): Promise<SubscriptionRecord | null> {
    const stored = await this.subscriptions
      .findOneAndUpdate({ userId: new Types.ObjectId(userId), ...from }, changes, { returnDocument: 'after' })
      .lean<StoredSubscription>();
    return stored && this.record(stored);
  }

  private stored(userId: string): Promise<StoredSubscription | null> {
    return this.subscriptions.findOne({ userId: new Types.ObjectId(userId) }).lean<StoredSubscription>();
  }

  /** A member's subscription as read (readStored), with its defaults; a damaged one is refused. */
  private record(stored: StoredSubscription): SubscriptionRecord {
    const read = readStored(this.subscriptions, stored);
    if (isDamaged(read)) throw new SubscriptionNeedsSupportException(read);
    return read;
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
  return record.refundedChargeIds.includes(chargeId);
}

/** Whether the charge already paid for a period of this subscription (its start, an upgrade or a renewal). */
export function paidFor(record: SubscriptionRecord, chargeId: string): boolean {
  // Documents older than chargeIds (read with it empty, its default) know only their last charge.
  return record.chargeIds.includes(chargeId) || record.lastChargeId === chargeId;
}
