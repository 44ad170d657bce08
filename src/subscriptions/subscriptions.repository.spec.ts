import { Types, type Model } from 'mongoose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Redis } from 'ioredis';
import { PERIOD_MS, RENEWAL_WAIT_MS } from './plans.js';
import type { Subscription } from './subscription.schema.js';
import { SubscriptionsRepository, type SubscriptionRecord } from './subscriptions.repository.js';
import { attachCache } from '../cache/cache.decorators.js';
import type { TieredCache } from '../cache/tiered-cache.js';
import { SubscriptionsService } from './subscriptions.service.js';
import type { UnsettledCharges } from './unsettled-charges.js';

const END = new Date('2027-01-31T00:00:00.000Z');
const record: SubscriptionRecord = {
  _id: new Types.ObjectId(),
  userId: new Types.ObjectId(),
  plan: 'premium',
  status: 'active',
  currentPeriodStart: new Date(END.getTime() - PERIOD_MS.month),
  currentPeriodEnd: END,
  cancelAtPeriodEnd: false,
  pendingPlan: null,
  previousPlan: null,
  lastChargeId: 'ch_start',
  chargeIds: ['ch_start'],
  recentPaymentKeys: [],
  refundedChargeIds: [],
} as unknown as SubscriptionRecord;

function repository() {
  const findOneAndUpdate = vi.fn((_filter: unknown, update: { $set: Partial<Subscription> }) => ({
    lean: () => Promise.resolve({ ...record, ...update.$set }),
  }));
  // Records are read through readStored, which applies the schema's defaults (the record here has them all).
  const applyDefaults = (stored: unknown) => stored;
  return { repo: new SubscriptionsRepository({ findOneAndUpdate, applyDefaults } as unknown as Model<Subscription>) };
}

describe('a renewal confirmed exactly when the renewal wait ends', () => {
  afterEach(() => vi.useRealTimers());

  it('starts the new period now, as the member had lost the plan at that instant', async () => {
    const now = new Date(END.getTime() + RENEWAL_WAIT_MS);
    vi.useFakeTimers({ now });
    // At this instant the member has no plan any more (and the sweep moves the subscription to past_due).
    const service = new SubscriptionsService(
      { findByUser: () => Promise.resolve(record) } as unknown as SubscriptionsRepository,
      {} as never,
      {} as Redis,
      {} as UnsettledCharges,
    );
    const passThrough = { wrap: (_n: string, _k: string, load: () => Promise<unknown>) => load() };
    attachCache(service, passThrough as unknown as TieredCache);
    expect(await service.entitlement(String(record.userId))).toBe('free');

    const renewed = await repository().repo.renew(record, 'ch_renewal', now);
    expect(renewed!.currentPeriodStart).toEqual(now);
    expect(renewed!.currentPeriodEnd).toEqual(new Date(now.getTime() + PERIOD_MS.month));
  });

  it('one millisecond earlier, continues the paid period (the member still had the plan)', async () => {
    const now = new Date(END.getTime() + RENEWAL_WAIT_MS - 1);
    const renewed = await repository().repo.renew(record, 'ch_renewal', now);
    expect(renewed!.currentPeriodStart).toEqual(END);
  });
});
