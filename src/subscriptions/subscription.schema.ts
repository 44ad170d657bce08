import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';
import { PLAN_IDS, type PlanId } from './plans.js';

/** A member's request charged under `key` (see paymentKey()), recorded `at`. */
@Schema({ _id: false })
export class PaymentKeyUse {
  @Prop({ required: true })
  key: string;

  @Prop({ required: true })
  at: Date;
}
const PaymentKeySchema = SchemaFactory.createForClass(PaymentKeyUse);

export const SUBSCRIPTION_STATUSES = ['active', 'past_due', 'canceled', 'expired'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/**
 * One document per member (unique userId), rewritten in place on every state change. Each change is
 * one conditional update on this document (filter on the current state), so no transaction is
 * needed and a retried change either applies once or finds the state already moved on.
 */
@Schema({ collection: 'subscriptions', timestamps: true })
export class Subscription {
  @Prop({ type: Types.ObjectId, required: true, unique: true })
  userId: Types.ObjectId;

  @Prop({ type: String, required: true, enum: PLAN_IDS })
  plan: PlanId;

  @Prop({ type: String, required: true, enum: SUBSCRIPTION_STATUSES })
  status: SubscriptionStatus;

  @Prop({ required: true })
  currentPeriodStart: Date;

  @Prop({ required: true })
  currentPeriodEnd: Date;

  /** Canceled by the member: stays active until the period ends, then expires instead of renewing. */
  @Prop({ required: true, default: false })
  cancelAtPeriodEnd: boolean;

  /** A downgrade waits for the end of the paid period. */
  @Prop({ type: String, enum: PLAN_IDS, default: null })
  pendingPlan: PlanId | null;

  /**
   * The plan the member keeps until currentPeriodStart: set by a renewal confirmed before the paid period ended (app
   * stores charge up to a day ahead) that applied a scheduled downgrade, so the member keeps what they paid for until
   * then. Read only while currentPeriodStart is ahead, which no other change makes it.
   */
  @Prop({ type: String, enum: PLAN_IDS, default: null })
  previousPlan: PlanId | null;

  /** The provider's id of the last successful charge. */
  @Prop({ type: String, required: true })
  lastChargeId: string;

  /**
   * Every charge that paid for a period of this subscription (start, upgrades, renewals), kept across restarts: a
   * provider may report a charge again, late or out of order, and each may extend the period only once. One entry a
   * month, so the array stays small.
   */
  @Prop({ type: [String], default: [] })
  chargeIds: string[];

  /**
   * The processor keys (paymentKey) of the member's requests that changed this subscription (subscribe, upgrades with
   * their charge; downgrades and their take-backs, charged nothing) in the last 24 hours, as long as a key's answer is
   * kept: a retry of one whose answer was never stored (its request died after this write) finds it applied and
   * answers with the subscription instead of "already subscribed" or "already on that plan". Older ones are dropped at
   * the next such write and never count: a key reused after its answer was purged is a new request. At most the newest
   * PAYMENT_KEYS_KEPT (subscriptions.service.ts).
   */
  @Prop({ type: [PaymentKeySchema], default: [] })
  recentPaymentKeys: PaymentKeyUse[];

  /**
   * Charges this API refunded because they bought nothing: a member's change that no longer applied (another won the
   * race), or a reported charge that renewed nothing. Added before the refund. A processor gives such a charge back to
   * a retry, or to a key reused after its answer was purged; it must buy nothing then either. At most about one a
   * month (a provider that goes on billing a canceled member), so the array stays small.
   */
  @Prop({ type: [String], default: [] })
  refundedChargeIds: string[];

  createdAt: Date;
  updatedAt: Date;
}

export const SubscriptionSchema = SchemaFactory.createForClass(Subscription);
SubscriptionSchema.index({ status: 1, currentPeriodEnd: 1 });
