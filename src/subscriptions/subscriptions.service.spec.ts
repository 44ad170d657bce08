import { ConflictException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PaymentKeyUse } from './subscription.schema.js';
import type { SubscriptionRecord, SubscriptionsRepository } from './subscriptions.repository.js';
import { PAYMENT_KEYS_KEPT, SubscriptionsService } from './subscriptions.service.js';
import type { UnsettledCharges } from './unsettled-charges.js';

const member = { id: '5f1d7f3a9b1e8a0012345678', role: 'user' as const };
const CHARGE = { id: 'ch_1', amountMinor: 999, currency: 'EUR' };

/** Unsettled charges where every note, forget and refund check succeeds (nothing was refunded). */
function settledCharges() {
  return {
    note: vi.fn().mockResolvedValue(undefined),
    forget: vi.fn().mockResolvedValue(undefined),
    wasRefunded: vi.fn().mockResolvedValue(false),
  };
}

/** The service over stubbed collaborators; these paths use no Redis of their own (the lock is taken by callers). */
function serviceOver(
  subscriptions: object,
  payments: ConstructorParameters<typeof SubscriptionsService>[1],
  unsettled: object = settledCharges(),
): SubscriptionsService {
  return new SubscriptionsService(
    subscriptions as unknown as SubscriptionsRepository,
    payments,
    {} as Redis,
    unsettled as unknown as UnsettledCharges,
  );
}

/** A start whose write no longer applies, with the member's subscription as it then stands. */
function setup(afterwards: Partial<SubscriptionRecord> | null) {
  const subscriptions = {
    findForChange: vi.fn().mockResolvedValueOnce(null).mockResolvedValueOnce(afterwards),
    start: vi.fn().mockResolvedValue(null),
    rememberRefund: vi.fn().mockResolvedValue(undefined),
  };
  const payments = {
    name: 'fake',
    charge: vi.fn().mockResolvedValue(CHARGE),
    refund: vi.fn().mockResolvedValue(undefined),
  };
  const unsettled = settledCharges();
  const service = serviceOver(subscriptions, payments, unsettled);
  const start = () => service['start'](member, 'premium', 'tok_visa', 'key-1');
  return { start, payments, subscriptions, unsettled };
}

const live = (chargeIds: string[]): Partial<SubscriptionRecord> => ({
  plan: 'premium',
  status: 'active',
  chargeIds,
  currentPeriodStart: new Date(),
  currentPeriodEnd: new Date(Date.now() + 1_000),
  cancelAtPeriodEnd: false,
});

describe('SubscriptionsService, a charge whose write no longer applied', () => {
  it('refunds a charge that pays for nothing, remembering it first so that a failed refund is made again later', async () => {
    const { start, payments, subscriptions } = setup(live(['ch_other']));
    await expect(start()).rejects.toBeInstanceOf(ConflictException);
    expect(subscriptions.rememberRefund).toHaveBeenCalledWith(member.id, 'ch_1');
    expect(payments.refund).toHaveBeenCalledWith('ch_1');
    expect(subscriptions.rememberRefund.mock.invocationCallOrder[0]).toBeLessThan(
      payments.refund.mock.invocationCallOrder[0],
    );
  });

  it('refunds the charge even when remembering it fails: the retry would answer "already subscribed" and never refund', async () => {
    const { start, payments, subscriptions } = setup(live(['ch_other']));
    subscriptions.rememberRefund.mockRejectedValueOnce(new Error('primary stepped down'));
    await expect(start()).rejects.toBeInstanceOf(ConflictException);
    expect(payments.refund).toHaveBeenCalledWith('ch_1');
  });

  it('keeps a charge that another run of the same request already applied, and answers with that subscription', async () => {
    const { start, payments } = setup(live(['ch_1']));
    await expect(start()).resolves.toMatchObject({ plan: 'premium', status: 'active' });
    expect(payments.refund).not.toHaveBeenCalled();
  });
});

describe('SubscriptionsService, a charge whose write failed', () => {
  it('leaves the charge noted for the sweep and fails, refunding nothing yet: a retry may still apply it', async () => {
    const { start, payments, subscriptions, unsettled } = setup(null);
    subscriptions.start.mockRejectedValueOnce(new Error('connection reset'));
    await expect(start()).rejects.toThrow('connection reset');
    expect(unsettled.note).toHaveBeenCalledWith({ userId: member.id, chargeId: 'ch_1' });
    expect(unsettled.forget).not.toHaveBeenCalled();
    expect(payments.refund).not.toHaveBeenCalled();
  });

  it('notes the charge before its write, so a process dying in between leaves it to the sweep, and forgets it after', async () => {
    const { start, subscriptions, unsettled } = setup(null);
    subscriptions.start.mockResolvedValueOnce(live(['ch_1']));
    await expect(start()).resolves.toMatchObject({ plan: 'premium' });
    const [noted, written, forgotten] = [unsettled.note, subscriptions.start, unsettled.forget].map(
      (call) => call.mock.invocationCallOrder[0],
    );
    expect(noted).toBeLessThan(written);
    expect(written).toBeLessThan(forgotten);
    expect(unsettled.forget).toHaveBeenCalledWith({ userId: member.id, chargeId: 'ch_1' });
  });

  it('still writes when the note fails: the charge is applied, only a failure would need a refund by hand', async () => {
    const { start, subscriptions, unsettled } = setup(null);
    unsettled.note.mockRejectedValueOnce(new Error('Command timed out'));
    subscriptions.start.mockResolvedValueOnce(live(['ch_1']));
    await expect(start()).resolves.toMatchObject({ plan: 'premium' });
    expect(unsettled.forget).not.toHaveBeenCalled();
  });

  it('refuses, and refunds again, a charge the sweep refunded that the processor gives back to a retry', async () => {
    const { start, payments, subscriptions, unsettled } = setup(null);
    unsettled.wasRefunded.mockResolvedValueOnce(true);
    await expect(start()).rejects.toThrow(/use a new key/);
    expect(payments.refund).toHaveBeenCalledWith('ch_1');
    expect(subscriptions.start).not.toHaveBeenCalled();
  });

  it('goes on when it cannot tell whether the sweep refunded the charge, rather than leave it paying for nothing', async () => {
    const { start, subscriptions, unsettled } = setup(live(['ch_1']));
    subscriptions.start.mockResolvedValueOnce(live(['ch_1']));
    unsettled.wasRefunded.mockRejectedValueOnce(new Error('Command timed out'));
    await expect(start()).resolves.toMatchObject({ plan: 'premium' });
    expect(subscriptions.start).toHaveBeenCalled();
  });
});

describe('SubscriptionsService, payment keys', () => {
  it('keeps only the newest few, however often a member flips between two plans for free', async () => {
    let stored: Partial<SubscriptionRecord> = { ...live([]), plan: 'platinum', recentPaymentKeys: [] };
    const subscriptions = {
      findForChange: vi.fn(() => Promise.resolve(stored)),
      scheduleDowngrade: vi.fn((_user: string, _from: string, to: string | null, keys: PaymentKeyUse[]) => {
        stored = { ...stored, pendingPlan: to as SubscriptionRecord['pendingPlan'], recentPaymentKeys: keys };
        return Promise.resolve(stored);
      }),
    };
    const payments = { name: 'fake', charge: vi.fn(), refund: vi.fn() };
    const service = serviceOver(subscriptions, payments, {});
    const changes = 3 * PAYMENT_KEYS_KEPT;
    for (let i = 0; i < changes; i += 1) {
      await service['switchPlan'](member, i % 2 ? 'platinum' : 'premium', undefined, `key-${i}`);
    }
    expect(payments.charge).not.toHaveBeenCalled();
    const kept = stored.recentPaymentKeys!.map((use) => use.key.split(':').at(-1));
    expect(kept).toEqual(Array.from({ length: PAYMENT_KEYS_KEPT }, (_, i) => `key-${changes - PAYMENT_KEYS_KEPT + i}`));
  });
});

describe('SubscriptionsService, a plan change after a canceled period ended, before the sweep', () => {
  afterEach(() => vi.useRealTimers());

  const PERIOD_END = new Date('2027-03-31T00:00:00.000Z');

  /** A member who canceled `plan`, whose paid period ends at PERIOD_END. */
  function setupEnded(plan: 'premium' | 'platinum' = 'premium', cancelAtPeriodEnd = true) {
    const ended: Partial<SubscriptionRecord> = {
      plan,
      status: 'active',
      chargeIds: ['ch_0'],
      refundedChargeIds: [],
      recentPaymentKeys: [],
      currentPeriodStart: new Date(PERIOD_END.getTime() - 30 * 24 * 3600 * 1000),
      currentPeriodEnd: PERIOD_END,
      cancelAtPeriodEnd,
    };
    const subscriptions = {
      findForChange: vi.fn().mockResolvedValue(ended),
      upgrade: vi.fn((_user: string, _from: string, period: { plan: string; start: Date; end: Date }) =>
        Promise.resolve({
          ...ended,
          plan: period.plan,
          currentPeriodStart: period.start,
          currentPeriodEnd: period.end,
        }),
      ),
      scheduleDowngrade: vi.fn((_user: string, _from: string, to: string | null) =>
        Promise.resolve({ ...ended, pendingPlan: to }),
      ),
    };
    const payments = { name: 'fake', charge: vi.fn().mockResolvedValue(CHARGE), refund: vi.fn() };
    const service = serviceOver(subscriptions, payments);
    const switchPlan = (plan: 'premium' | 'platinum', token?: string) =>
      service['switchPlan'](member, plan, token, `key-${plan}`);
    return { switchPlan, payments, subscriptions };
  }

  it('refuses an upgrade once the period has ended, as resume does, charging nothing', async () => {
    vi.useFakeTimers({ now: PERIOD_END.getTime() + 1_000, toFake: ['Date'] });
    const { switchPlan, payments, subscriptions } = setupEnded();
    await expect(switchPlan('platinum', 'tok_visa')).rejects.toThrow(/ended with its paid period: subscribe again/);
    expect(payments.charge).not.toHaveBeenCalled();
    expect(subscriptions.upgrade).not.toHaveBeenCalled();
  });

  // The provider's charge for the renewal, reported after the upgrade, extended its platinum period by a month.
  it('refuses an upgrade while the renewal of the ended period is awaited, charging nothing', async () => {
    vi.useFakeTimers({ now: PERIOD_END.getTime(), toFake: ['Date'] });
    const { switchPlan, payments, subscriptions } = setupEnded('premium', false);
    await expect(switchPlan('platinum', 'tok_visa')).rejects.toThrow(/renewal of the premium period .* not confirmed/);
    expect(payments.charge).not.toHaveBeenCalled();
    expect(subscriptions.upgrade).not.toHaveBeenCalled();
    vi.setSystemTime(PERIOD_END.getTime() - 1);
    await expect(switchPlan('platinum', 'tok_visa')).resolves.toMatchObject({ plan: 'platinum' });
  });

  it('refuses a downgrade from the moment the period ends: there is no next period for it to apply to', async () => {
    vi.useFakeTimers({ now: PERIOD_END.getTime(), toFake: ['Date'] });
    const { switchPlan, subscriptions } = setupEnded('platinum');
    await expect(switchPlan('premium')).rejects.toThrow(/ended with its paid period: subscribe again/);
    expect(subscriptions.scheduleDowngrade).not.toHaveBeenCalled();
  });

  it('still lets a canceled member upgrade in the last second of the period', async () => {
    vi.useFakeTimers({ now: PERIOD_END.getTime() - 1, toFake: ['Date'] });
    const { switchPlan, payments } = setupEnded();
    await expect(switchPlan('platinum', 'tok_visa')).resolves.toMatchObject({
      plan: 'platinum',
      cancelAtPeriodEnd: true,
    });
    expect(payments.charge).toHaveBeenCalledOnce();
  });
});
