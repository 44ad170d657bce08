import type { PlanId } from './plans.js';
import type { SubscriptionStatus } from './subscription.schema.js';
import { planAt, type SubscriptionRecord } from './subscriptions.repository.js';

export interface SubscriptionView {
  plan: PlanId;
  status: SubscriptionStatus;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  /** Left out when no downgrade waits (optional fields are never null). */
  pendingPlan?: PlanId;
  /** The plan that applies until currentPeriodStart (Subscription.previousPlan); left out when none does. */
  previousPlan?: PlanId;
}

export function toSubscriptionView(record: SubscriptionRecord): SubscriptionView {
  return {
    plan: record.plan,
    status: record.status,
    currentPeriodStart: record.currentPeriodStart.toISOString(),
    currentPeriodEnd: record.currentPeriodEnd.toISOString(),
    cancelAtPeriodEnd: record.cancelAtPeriodEnd,
    ...(record.pendingPlan ? { pendingPlan: record.pendingPlan } : {}),
    ...(planAt(record, new Date()) !== record.plan ? { previousPlan: record.previousPlan! } : {}),
  };
}
