import { Types } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { PERIOD_MS } from '../../src/subscriptions/plans.js';
import type { Account } from './accounts.js';

const DAY_MS = 24 * 3600 * 1000;

/**
 * The member's subscription document in today's shape, active on premium and ending `endsInMs` from now, for a test to
 * insert past mongoose; `changes` set fields, and remove those set to undefined.
 */
export function subscriptionDocument(
  member: Account,
  changes: Record<string, unknown> = {},
  endsInMs = 10 * DAY_MS,
): Record<string, unknown> & { _id: Types.ObjectId } {
  const end = Date.now() + endsInMs;
  const started = new Date(end - PERIOD_MS.month);
  const document: Record<string, unknown> = {
    userId: new Types.ObjectId(member.userId),
    plan: 'premium',
    status: 'active',
    currentPeriodStart: started,
    currentPeriodEnd: new Date(end),
    cancelAtPeriodEnd: false,
    pendingPlan: null,
    previousPlan: null,
    lastChargeId: `ch_${randomUUID()}`,
    chargeIds: [],
    recentPaymentKeys: [],
    refundedChargeIds: [],
    createdAt: started,
    updatedAt: started,
    __v: 0,
    ...changes,
  };
  for (const [field, value] of Object.entries(document)) if (value === undefined) delete document[field];
  return { ...document, _id: new Types.ObjectId() };
}
