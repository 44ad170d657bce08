import type { PlanId } from './plans.js';
import type { SubscriptionStatus } from './subscription.schema.js';
import type { SubscriptionRecord } from './subscriptions.repository.js';

export interface SubscriptionView {
  plan: PlanId;
  status: SubscriptionStatus;
  currentPeriodStart: string;
  currentPeriodEnd: string;
  cancelAtPeriodEnd: boolean;
  pendingPlan: PlanId | null;
}

export function toSubscriptionView(record: SubscriptionRecord): SubscriptionView {
  return {
    plan: record.plan,
    status: record.status,
    currentPeriodStart: record.currentPeriodStart.toISOString(),
    currentPeriodEnd: record.currentPeriodEnd.toISOString(),
    cancelAtPeriodEnd: record.cancelAtPeriodEnd,
    pendingPlan: record.pendingPlan ?? null,
  };
}
