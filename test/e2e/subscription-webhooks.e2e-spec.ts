import { getConnectionToken } from '@nestjs/mongoose';
import type { Redis } from 'ioredis';
import { Types, type Collection, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REDIS_CLIENT } from '../../src/redis/redis.constants.js';
import { FakePaymentProvider } from '../../src/subscriptions/payment-provider.js';
import { RENEWAL_WAIT_MS } from '../../src/subscriptions/plans.js';
import { withSubscriptionChangeLock } from '../../src/subscriptions/subscription-change-lock.js';
import { SubscriptionSweeper } from '../../src/subscriptions/subscription-sweeper.js';
import { SubscriptionsRepository } from '../../src/subscriptions/subscriptions.repository.js';
import { paymentKey, SubscriptionsService } from '../../src/subscriptions/subscriptions.service.js';
import { SETTLE_AFTER_MS } from '../../src/subscriptions/unsettled-charges.js';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { secondInvalidationsDone } from '../support/invalidations.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const SECRET = 'a-webhook-secret-of-at-least-32-characters';
const DAY_MS = 24 * 3600 * 1000;
const PERIOD_MS = 30 * DAY_MS;

describe('payment provider webhooks against members’ own changes and the sweep', () => {
  let running: RunningApp;
  let url: string;
  let payments: FakePaymentProvider;
  let sweeper: SubscriptionSweeper;
  let redis: Redis;
  let subscriptions: Collection;
  let claims: Collection<{ _id: string; [field: string]: unknown }>;

  beforeAll(async () => {
    running = await startApp(testConfig({ PAYMENT_WEBHOOK_SECRET: SECRET }));
    url = running.url;
    payments = running.app.get(FakePaymentProvider);
    sweeper = running.app.get(SubscriptionSweeper);
    redis = running.app.get(REDIS_CLIENT);
    subscriptions = running.app.get<Connection>(getConnectionToken()).collection('subscriptions');
    claims = running.app.get<Connection>(getConnectionToken()).collection('webhook_events');
  });

  afterAll(async () => {
    await running.close();
  });

  const signedDelivery = (body: string) =>
    fetch(`${url}/v1/subscriptions/webhooks/fake`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'vesta-signature': sign(SECRET, body, Math.floor(Date.now() / 1000)),
      },
      body,
    });
  const deliver = (event: object) => signedDelivery(JSON.stringify(event));
  const paid = (member: Account, chargeId: string) =>
    deliver({ id: `evt_${randomUUID()}`, type: 'invoice.paid', data: { userId: member.userId, chargeId } });
  const failed = (member: Account) =>
    deliver({ id: `evt_${randomUUID()}`, type: 'invoice.payment_failed', data: { userId: member.userId } });
  const post = (path: string, member: Account, body: unknown = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify(body),
    });
  const subscriptionOf = async (member: Account) =>
    (await (await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).json()) as Record<string, string> & {
      cancelAtPeriodEnd: boolean;
    };
  const periodEndOf = async (member: Account) => Date.parse((await subscriptionOf(member)).currentPeriodEnd);
  /** A premium member and the id of the charge that paid for the subscription. */
  const premiumMember = async (): Promise<{ member: Account; chargeId: string }> => {
    const member = await registerAccount(url);
    const response = await post('/v1/subscriptions', member, { plan: 'premium', paymentToken: 'tok_visa' });
    expect(response.status).toBe(201);
    const [charge] = [...payments.charges].filter(([key]) => key.startsWith(`${member.userId}:`));
    return { member, chargeId: charge[1].id };
  };
  /** What the clock would have done: the paid period ended `agoMs` ago (by default a moment ago). */
  const endPeriod = (member: Account, agoMs = 1_000) =>
    subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { currentPeriodEnd: new Date(Date.now() - agoMs) } },
    );
  /** A platinum member with a downgrade to premium scheduled for the end of the paid period. */
  const downgradingMember = async (): Promise<Account> => {
    const member = await registerAccount(url);
    expect((await post('/v1/subscriptions', member, { plan: 'platinum', paymentToken: 'tok_visa' })).status).toBe(201);
    expect((await post('/v1/subscriptions/me/plan', member, { plan: 'premium' })).status).toBe(200);
    return member;
  };
  /** The renewal charged 12 h before the paid period ends (an app store charges up to a day ahead); that end. */
  const renewEarly = async (member: Account): Promise<number> => {
    await endPeriod(member, -12 * 3600 * 1000);
    const ends = await periodEndOf(member);
    expect((await paid(member, `ch_${randomUUID()}`)).status).toBe(200);
    return ends;
  };
  /** Ended so long ago that the wait for its renewal is over too. */
  const unrenewedFor = RENEWAL_WAIT_MS + 1_000;

  describe('renewals', () => {
    it('extends the period once per charge, however the charges’ events interleave', async () => {
      const { member } = await premiumMember();
      const start = await periodEndOf(member);
      for (const chargeId of ['ch_A', 'ch_B', 'ch_A', 'ch_B', 'ch_A']) {
        expect((await paid(member, chargeId)).status).toBe(200);
      }
      expect(await periodEndOf(member)).toBe(start + 2 * PERIOD_MS);
    });

    it('does not renew with the charge that paid for the subscription, even after an upgrade', async () => {
      const { member, chargeId } = await premiumMember();
      expect((await paid(member, chargeId)).status).toBe(200);
      const upgraded = await post('/v1/subscriptions/me/plan', member, { plan: 'platinum', paymentToken: 'tok_visa' });
      expect(upgraded.status).toBe(200);
      const upgradedUntil = await periodEndOf(member);

      expect((await paid(member, chargeId)).status).toBe(200);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'platinum', status: 'active' });
      expect(await periodEndOf(member)).toBe(upgradedUntil);
    });
  });

  describe('payments without a charge', () => {
    it('refuses an invoice.paid that names no charge, renewing nothing and claiming nothing', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const event = { id: `evt_${randomUUID()}`, type: 'invoice.paid', data: { userId: member.userId } };
      const refused = await deliver(event);
      expect(refused.status).toBe(400);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await deliver({ ...event, id: `evt_${randomUUID()}` })).status).toBe(400);
      expect(await periodEndOf(member)).toBe(before);

      // The provider's corrected delivery of the same event applies.
      const corrected = await deliver({ ...event, data: { ...event.data, chargeId: `ch_${randomUUID()}` } });
      expect(await corrected.json()).toEqual({ received: true, duplicate: false });
      expect(await periodEndOf(member)).toBe(before + 30 * 24 * 3600 * 1000);
    });
  });

  describe('payments that buy nothing', () => {
    /**
     * A subscribe to premium that charged and died before its write (500), whose charge the provider then reports and
     * this refunds. Returns that request, to retry with the same key.
     */
    async function subscribeRefundedAfterItsWriteFailed(member: Account): Promise<() => Promise<Response>> {
      const repository = running.app.get(SubscriptionsRepository);
      const dies = vi.spyOn(repository, 'start').mockRejectedValueOnce(new Error('the process died here'));
      const key = randomUUID();
      const subscribe = () =>
        fetch(`${url}/v1/subscriptions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key, ...member.auth },
          body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
        });
      expect((await subscribe()).status).toBe(500);
      dies.mockRestore();
      const charge = payments.charges.get(paymentKey(member.userId, 'subscribe', 'premium', key))!.id;
      expect((await paid(member, charge)).status).toBe(200);
      expect(payments.refunds.has(charge)).toBe(true);
      return subscribe;
    }

    // The provider reports a member's own charges too. One whose write failed was taken for a renewal: the member paid
    // the platinum price for another month of premium, and the upgrade's retry was refused (422).
    it('renews nothing with the charge of an upgrade whose write failed, and lets the upgrade’s retry apply it', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const key = randomUUID();
      const upgrade = () =>
        fetch(`${url}/v1/subscriptions/me/plan`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key, ...member.auth },
          body: JSON.stringify({ plan: 'platinum', paymentToken: 'tok_visa' }),
        });
      const repository = running.app.get(SubscriptionsRepository);
      const failing = vi.spyOn(repository, 'upgrade').mockRejectedValueOnce(new Error('connection reset'));
      expect((await upgrade()).status).toBeGreaterThanOrEqual(500);
      failing.mockRestore();
      const charge = payments.charges.get(paymentKey(member.userId, 'change-plan', 'platinum', key))!.id;

      expect((await paid(member, charge)).status).toBe(200);
      expect(await subscriptionOf(member)).toMatchObject({ plan: 'premium' });
      expect(await periodEndOf(member)).toBe(before);

      const retry = await upgrade();
      expect(retry.status).toBe(200);
      expect(await retry.json()).toMatchObject({ plan: 'platinum', status: 'active' });
      expect(payments.refunds.has(charge)).toBe(false);
    });

    it('refunds a renewal charged after the member canceled, and leaves the subscription to end', async () => {
      const { member } = await premiumMember();
      expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(200);
      const until = await periodEndOf(member);
      const late = `ch_${randomUUID()}`;

      expect((await paid(member, late)).status).toBe(200);
      expect(payments.refunds.has(late)).toBe(true);
      expect(await subscriptionOf(member)).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
      expect(await periodEndOf(member)).toBe(until);
    });

    it('refunds the charge of a subscribe that died before its write, and refuses it to that request’s retry', async () => {
      const { member } = await premiumMember();
      expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(200);
      await endPeriod(member);
      // The provider reports the charge; it renews nothing (the subscription was canceled) and is refunded.
      const subscribe = await subscribeRefundedAfterItsWriteFailed(member);

      const retry = await subscribe();
      expect(retry.status).toBe(422);
      expect(await subscriptionOf(member)).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
      expect(await periodEndOf(member)).toBeLessThan(Date.now());
    });

    it('refuses to the retry of a first subscribe the charge the provider reported and this refunded', async () => {
      const member = await registerAccount(url);
      // The provider reports the charge; the member has no subscription, so it is refunded.
      const subscribe = await subscribeRefundedAfterItsWriteFailed(member);

      // No document to remember the refund in: without the note in Redis this retry subscribed for nothing.
      expect((await subscribe()).status).toBe(422);
      expect((await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).status).toBe(404);
    });

    it('renews nothing with a refunded charge reported again after the member resumed', async () => {
      const { member } = await premiumMember();
      expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(200);
      const until = await periodEndOf(member);
      const early = `ch_${randomUUID()}`;
      expect((await paid(member, early)).status).toBe(200); // charged early, after the cancel: refunded
      expect(payments.refunds.has(early)).toBe(true);
      expect((await post('/v1/subscriptions/me/resume', member)).status).toBe(200);

      // The provider reports that charge again under another event id.
      expect((await paid(member, early)).status).toBe(200);
      expect(await periodEndOf(member)).toBe(until);
      expect(await subscriptionOf(member)).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    });

    it('refunds a charge for a member who has no subscription, once, and remembers the event', async () => {
      const member = await registerAccount(url);
      const charge = `ch_${randomUUID()}`;
      const event = {
        id: `evt_${randomUUID()}`,
        type: 'invoice.paid',
        data: { userId: member.userId, chargeId: charge },
      };
      const refund = payments.refund.bind(payments);
      const refunded: string[] = [];
      payments.refund = (chargeId) => {
        refunded.push(chargeId);
        return refund(chargeId);
      };
      try {
        expect(await (await deliver(event)).json()).toEqual({ received: true, duplicate: false });
        expect(await (await deliver(event)).json()).toEqual({ received: true, duplicate: true });
      } finally {
        payments.refund = refund;
      }
      expect(refunded).toEqual([charge]);
      expect(payments.refunds.has(charge)).toBe(true);
      expect((await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).status).toBe(404);
    });

    // A charge refunded while its member had no subscription is remembered in Redis only (no document to hold it).
    // Reported once the member had subscribed again, it renewed the new subscription: a month for nothing.
    it('renews nothing with a charge refunded before the member had a subscription, reported once they have one', async () => {
      const member = await registerAccount(url);
      const key = randomUUID();
      const repository = running.app.get(SubscriptionsRepository);
      const failing = vi.spyOn(repository, 'start').mockRejectedValueOnce(new Error('connection reset'));
      const subscribe = await fetch(`${url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key, ...member.auth },
        body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
      });
      expect(subscribe.status).toBeGreaterThanOrEqual(500);
      failing.mockRestore();
      const charge = payments.charges.get(paymentKey(member.userId, 'subscribe', 'premium', key))!.id;
      // No retry applied it: the sweep refunds it.
      await sweeper.settleCharges(new Date(Date.now() + SETTLE_AFTER_MS + 1_000));
      expect(payments.refunds.has(charge)).toBe(true);
      // The member subscribes again with a new key; the provider's report of the refunded charge comes after that.
      expect((await post('/v1/subscriptions', member, { plan: 'premium', paymentToken: 'tok_visa' })).status).toBe(201);
      const until = await periodEndOf(member);

      expect((await paid(member, charge)).status).toBe(200);
      expect(await periodEndOf(member)).toBe(until);
      // Remembered in the subscription now, not only in Redis.
      expect((await repository.findByUser(member.userId))?.refundedChargeIds).toContain(charge);
    });

    it('never refunds a charge that paid for a period, however often it is reported', async () => {
      const { member, chargeId } = await premiumMember();
      const renewal = `ch_${randomUUID()}`;
      expect((await paid(member, renewal)).status).toBe(200);
      expect((await paid(member, renewal)).status).toBe(200);
      expect((await paid(member, chargeId)).status).toBe(200);
      expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(200);
      expect((await paid(member, renewal)).status).toBe(200);

      expect(payments.refunds.has(renewal)).toBe(false);
      expect(payments.refunds.has(chargeId)).toBe(false);
    });
  });

  describe('failed payments', () => {
    it('leaves a paid, current subscription alone, and the member free to change it', async () => {
      const { member } = await premiumMember();
      expect((await failed(member)).status).toBe(200);
      expect((await subscriptionOf(member)).status).toBe('active');
      expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(200);
    });

    it('marks the subscription past due once its period has ended unpaid', async () => {
      const { member } = await premiumMember();
      await endPeriod(member);
      expect((await failed(member)).status).toBe(200);
      expect((await subscriptionOf(member)).status).toBe('past_due');
    });

    it('lets a past-due member cancel at once, refunds the renewal charged after it, and lets them subscribe again', async () => {
      const { member } = await premiumMember();
      await endPeriod(member);
      expect((await failed(member)).status).toBe(200);
      // Neither a new card (subscribe) nor a plan change is taken while past due: canceling is the way out.
      expect(
        (await post('/v1/subscriptions/me/plan', member, { plan: 'platinum', paymentToken: 'tok_visa' })).status,
      ).toBe(409);
      const canceled = await post('/v1/subscriptions/me/cancel', member);
      expect(canceled.status).toBe(200);
      expect(await canceled.json()).toMatchObject({ status: 'canceled', cancelAtPeriodEnd: true });

      // The provider's retry of the failed payment goes through after all: it buys nothing and is given back.
      const retried = `ch_${randomUUID()}`;
      expect((await paid(member, retried)).status).toBe(200);
      expect(payments.refunds.has(retried)).toBe(true);
      expect((await subscriptionOf(member)).status).toBe('canceled');

      const again = await post('/v1/subscriptions', member, { plan: 'premium', paymentToken: 'tok_visa' });
      expect(again.status).toBe(201);
      expect(await again.json()).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    });

    it('leaves a member who canceled at period end to be canceled, not made past due', async () => {
      const { member } = await premiumMember();
      expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(200);
      await endPeriod(member);
      expect((await failed(member)).status).toBe(200);
      expect(await subscriptionOf(member)).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
      await sweeper.sweep();
      expect((await subscriptionOf(member)).status).toBe('canceled');
    });
  });

  describe('one change to a subscription at a time', () => {
    it('answers 503 to a webhook while the member’s subscription is being changed, and applies its retry', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const event = {
        id: `evt_${randomUUID()}`,
        type: 'invoice.paid',
        data: { userId: member.userId, chargeId: 'ch_1' },
      };
      const outcome = await withSubscriptionChangeLock(redis, member.userId, async () => {
        // The same lock as the member's own requests take.
        expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(409);
        const busy = await deliver(event);
        expect(busy.status).toBe(503);
        expect(busy.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(await periodEndOf(member)).toBe(before);
      });
      expect(outcome.acquired).toBe(true);
      const retry = await deliver(event);
      expect(await retry.json()).toEqual({ received: true, duplicate: false });
      expect(await periodEndOf(member)).toBe(before + PERIOD_MS);
    });

    it('sweeps past a subscription that is being changed, and moves it on the next run', async () => {
      const { member } = await premiumMember();
      await endPeriod(member, unrenewedFor);
      await withSubscriptionChangeLock(redis, member.userId, async () => {
        await sweeper.sweep();
        expect((await subscriptionOf(member)).status).toBe('active');
      });
      await sweeper.sweep();
      expect((await subscriptionOf(member)).status).toBe('past_due');
    });

    // Without the lock, FerretDB (whose conditional updates read, then write) lost a cancellation in the first
    // round of every run.
    it('never loses a cancellation to a renewal delivered at the same moment', async () => {
      const members: Account[] = [];
      for (let i = 0; i < 5; i += 1) members.push((await premiumMember()).member);
      const race = async (member: Account, round: number) => {
        const before = await periodEndOf(member);
        const [cancel, renewal] = await Promise.all([
          post('/v1/subscriptions/me/cancel', member),
          paid(member, `ch_${randomUUID()}`),
        ]);
        expect(renewal.status, `round ${round}`).toBe(200);
        // Canceled first: the renewal no longer applies. Renewed first: the cancellation follows, or finds the
        // change in progress (409) and the member retries.
        expect([200, 409], `round ${round}`).toContain(cancel.status);
        const after = await subscriptionOf(member);
        expect(after.cancelAtPeriodEnd, `round ${round}`).toBe(cancel.status === 200);
        if (cancel.status === 409) expect(Date.parse(after.currentPeriodEnd)).toBe(before + PERIOD_MS);
        if (after.cancelAtPeriodEnd) expect((await post('/v1/subscriptions/me/resume', member)).status).toBe(200);
      };
      for (let round = 0; round < 8; round += 1) {
        await Promise.all(members.map((member) => race(member, round)));
      }
    });

    // Without the lock, FerretDB lost at least one of the five renewals in about half of the rounds.
    it('never loses a renewal to a sweep that runs at the same moment', async () => {
      const members: Account[] = [];
      for (let i = 0; i < 5; i += 1) members.push((await premiumMember()).member);
      for (let round = 0; round < 30; round += 1) {
        await Promise.all(members.map((member) => endPeriod(member, unrenewedFor)));
        const [, ...renewals] = await Promise.all([
          sweeper.sweep(),
          ...members.map((member) => paid(member, `ch_${randomUUID()}`)),
        ]);
        expect(renewals.map((response) => response.status)).toEqual(Array(5).fill(200));
        const statuses = await Promise.all(members.map(async (member) => (await subscriptionOf(member)).status));
        expect(statuses, `round ${round}`).toEqual(Array(5).fill('active'));
      }
    });
  });

  describe('deliveries that did not finish', () => {
    const renewalEvent = (member: Account) => ({
      id: `evt_${randomUUID()}`,
      type: 'invoice.paid',
      data: { userId: member.userId, chargeId: `ch_${randomUUID()}` },
    });
    /** The claim a delivery holds while it applies the event, as a crash between claiming and applying leaves it. */
    const heldClaim = (eventId: string, leaseUntil: Date) =>
      claims.insertOne({
        _id: `fake:${eventId}`,
        type: 'invoice.paid',
        state: 'claimed',
        owner: 'a-delivery-that-crashed',
        leaseUntil,
        createdAt: new Date(),
        updatedAt: new Date(),
      });

    it('applies an event whose delivery crashed after claiming it, once the claim’s lease has run out', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const event = renewalEvent(member);
      await heldClaim(event.id, new Date(Date.now() - 1_000));

      expect(await (await deliver(event)).json()).toEqual({ received: true, duplicate: false });
      expect(await periodEndOf(member)).toBe(before + PERIOD_MS);
      expect(await (await deliver(event)).json()).toEqual({ received: true, duplicate: true });
      expect(await periodEndOf(member)).toBe(before + PERIOD_MS);
    });

    it('answers 503, not "duplicate", while another delivery holds the event, and applies a later delivery', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const event = renewalEvent(member);
      await heldClaim(event.id, new Date(Date.now() + 60_000));

      const busy = await deliver(event);
      expect(busy.status).toBe(503);
      expect(busy.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await periodEndOf(member)).toBe(before);

      // What the clock does: the holder never finished within its lease.
      await claims.updateOne({ _id: `fake:${event.id}` }, { $set: { leaseUntil: new Date(Date.now() - 1_000) } });
      expect(await (await deliver(event)).json()).toEqual({ received: true, duplicate: false });
      expect(await periodEndOf(member)).toBe(before + PERIOD_MS);
    });

    it('answers 5xx when applying fails, and applies the provider’s retry', async () => {
      const { member } = await premiumMember();
      expect((await post('/v1/subscriptions/me/cancel', member)).status).toBe(200);
      const event = renewalEvent(member);
      const refund = payments.refund.bind(payments);
      payments.refund = () => Promise.reject(new Error('processor unreachable'));
      try {
        const failedDelivery = await deliver(event);
        expect(failedDelivery.status).toBeGreaterThanOrEqual(500);
        expect(payments.refunds.has(event.data.chargeId)).toBe(false);
      } finally {
        payments.refund = refund;
      }
      expect(await (await deliver(event)).json()).toEqual({ received: true, duplicate: false });
      expect(payments.refunds.has(event.data.chargeId)).toBe(true);
    });

    it('leaves a member the plan paid for until the period ends when a renewal confirmed early applies a downgrade', async () => {
      const member = await downgradingMember();
      const service = running.app.get(SubscriptionsService);

      const ends = await renewEarly(member);
      const renewed = await subscriptionOf(member);
      expect(renewed).toMatchObject({ plan: 'premium', previousPlan: 'platinum', status: 'active' });
      expect(renewed.pendingPlan).toBeUndefined();
      expect(Date.parse(renewed.currentPeriodStart)).toBe(ends);
      expect(await service.entitlement(member.userId)).toBe('platinum');
      // Once the renewed period has started, the downgrade applies.
      await subscriptions.updateOne(
        { userId: new Types.ObjectId(member.userId) },
        { $set: { currentPeriodStart: new Date(Date.now() - 1_000) } },
      );
      expect((await subscriptionOf(member)).previousPlan).toBeUndefined();
      expect(await service.loadEntitlementState(member.userId)).toMatchObject({ plan: 'premium' });
      expect((await service.loadEntitlementState(member.userId)).previousPlan).toBeUndefined();
    });

    it('adds a second early renewal to the period paid ahead, leaving the member the plan paid for until it starts', async () => {
      const member = await downgradingMember();
      const ends = await renewEarly(member);
      // Charged again before the period the first renewal paid for has begun: one more month on premium after it.
      expect((await paid(member, `ch_${randomUUID()}`)).status).toBe(200);

      const renewed = await subscriptionOf(member);
      expect(renewed).toMatchObject({ plan: 'premium', previousPlan: 'platinum', status: 'active' });
      expect(Date.parse(renewed.currentPeriodStart)).toBe(ends);
      expect(Date.parse(renewed.currentPeriodEnd)).toBe(ends + 2 * PERIOD_MS);
      expect(await running.app.get(SubscriptionsService).entitlement(member.userId)).toBe('platinum');
    });

    it('refuses an upgrade, charging nothing, until the period an early renewal paid for has started', async () => {
      const { member } = await premiumMember();
      await renewEarly(member);
      const paidAhead = await subscriptionOf(member);
      const chargesBefore = payments.charges.size;

      const upgrade = await post('/v1/subscriptions/me/plan', member, { plan: 'platinum', paymentToken: 'tok_visa' });
      expect(upgrade.status).toBe(409);
      expect(((await upgrade.json()) as { detail: string }).detail).toContain(paidAhead.currentPeriodStart);
      expect(payments.charges.size).toBe(chargesBefore);
      expect(await subscriptionOf(member)).toEqual(paidAhead);

      // Once that period has started, the upgrade is charged and starts a new one, as any upgrade does.
      await subscriptions.updateOne(
        { userId: new Types.ObjectId(member.userId) },
        { $set: { currentPeriodStart: new Date(Date.now() - 1_000) } },
      );
      const later = await post('/v1/subscriptions/me/plan', member, { plan: 'platinum', paymentToken: 'tok_visa' });
      expect(later.status).toBe(200);
      expect(payments.charges.size).toBe(chargesBefore + 1);
    });

    it('refuses a return to the plan that applies until a downgrade renewed early starts, charging nothing', async () => {
      const member = await downgradingMember();
      await renewEarly(member);
      const paidAhead = await subscriptionOf(member);
      const chargesBefore = payments.charges.size;

      const back = await post('/v1/subscriptions/me/plan', member, { plan: 'platinum', paymentToken: 'tok_visa' });
      expect(back.status).toBe(409);
      expect(payments.charges.size).toBe(chargesBefore);
      expect(await subscriptionOf(member)).toEqual(paidAhead);
      expect(await running.app.get(SubscriptionsService).entitlement(member.userId)).toBe('platinum');
    });

    it('starts the next period at the end of the paid one for a renewal confirmed during the renewal wait', async () => {
      const { member } = await premiumMember();
      await endPeriod(member, 3600 * 1000); // confirmed an hour after the period end, the member on premium meanwhile
      const ended = await periodEndOf(member);
      expect((await paid(member, `ch_${randomUUID()}`)).status).toBe(200);
      expect(await periodEndOf(member)).toBe(ended + PERIOD_MS);
    });

    it('opens premium routes after a renewal whose write landed but whose delivery failed', async () => {
      const { member } = await premiumMember();
      await endPeriod(member, unrenewedFor);
      const premium = () => fetch(`${url}/v1/profiles/advanced`, { headers: member.auth }).then((r) => r.status);
      expect(await premium()).toBe(403); // the ended period is now the cached status
      // The write lands, then its reply is lost (a connection reset), so the delivery fails after the change.
      const repository = running.app.get(SubscriptionsRepository);
      const renew = repository.renew.bind(repository);
      repository.renew = async (...args) => {
        await renew(...args);
        throw new Error('connection reset');
      };
      const event = renewalEvent(member);
      try {
        expect((await deliver(event)).status).toBeGreaterThanOrEqual(500);
      } finally {
        repository.renew = renew;
      }
      expect((await deliver(event)).status).toBe(200); // finds the charge applied: nothing to change
      expect(await periodEndOf(member)).toBeGreaterThan(Date.now());
      expect(await premium()).toBe(200);
    });

    it('opens premium routes once a renewal whose delivery failed before its write lands later', async () => {
      const { member } = await premiumMember();
      await endPeriod(member, unrenewedFor);
      const premium = () => fetch(`${url}/v1/profiles/advanced`, { headers: member.auth }).then((r) => r.status);
      // The write's answer is lost before the database ran it; it runs later (a server that stalled past the driver's
      // socket timeout runs what waited in its socket once it resumes).
      const repository = running.app.get(SubscriptionsRepository);
      const renew = vi.spyOn(repository, 'renew').mockRejectedValueOnce(new Error('timed out'));
      let landsLater: Parameters<SubscriptionsRepository['renew']>;
      try {
        expect((await deliver(renewalEvent(member))).status).toBeGreaterThanOrEqual(500);
        landsLater = renew.mock.calls[0];
      } finally {
        renew.mockRestore();
      }
      await secondInvalidationsDone();
      expect(await premium()).toBe(403); // the ended period is now the cached status again
      await repository.renew(...landsLater);

      // Until 2026-12-07 the ended period answered until the TTL (300 s) or the provider's redelivery.
      await expect.poll(premium, { timeout: 5_000, interval: 200 }).toBe(200);
    });

    it('applies an event once among simultaneous deliveries of it', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const event = renewalEvent(member);
      const responses = await Promise.all(Array.from({ length: 8 }, () => deliver(event)));
      const answers = await Promise.all(
        responses.map(async (r) => ({ status: r.status, body: (await r.json()) as { duplicate?: boolean } })),
      );
      // Each is applied, a duplicate, or "being applied, deliver again" (503) while the first runs.
      expect(answers.filter((a) => a.status === 200 && a.body.duplicate === false)).toHaveLength(1);
      for (const { status } of answers) expect([200, 503]).toContain(status);
      expect(await periodEndOf(member)).toBe(before + PERIOD_MS);
    });
  });

  describe('fields the provider adds over time', () => {
    it('applies an event with fields this API does not know, at the top and inside data, and ignores them', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const event = {
        id: `evt_${randomUUID()}`,
        type: 'invoice.paid',
        livemode: true,
        api_version: '2027-01-01',
        data: { userId: member.userId, chargeId: `ch_${randomUUID()}`, amount_paid: 900, lines: [{ plan: 'x' }] },
      };
      const response = await deliver(event);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ received: true, duplicate: false });
      expect(await periodEndOf(member)).toBe(before + PERIOD_MS);
    });

    it('acknowledges a signed event of a type this API does not handle, changing and claiming nothing', async () => {
      const { member } = await premiumMember();
      const before = await subscriptionOf(member);
      const refundsBefore = payments.refunds.size;
      // Shapes a provider sends for events this API has no use for: other data, no member, no data at all.
      const events = [
        { id: `evt_${randomUUID()}`, type: 'customer.subscription.deleted', data: { object: { id: 'sub_1' } } },
        { id: `evt_${randomUUID()}`, type: 'charge.refunded', data: { userId: member.userId, chargeId: 'ch_1' } },
        { id: `evt_${randomUUID()}`, type: 'invoice.upcoming' },
      ];
      for (const event of events) {
        const response = await deliver(event);
        expect(response.status, event.type).toBe(200);
        expect(await response.json()).toEqual({ received: true, duplicate: false, ignored: true });
        expect(await claims.findOne({ _id: `fake:${event.id}` })).toBeNull();
      }
      expect(await subscriptionOf(member)).toEqual(before);
      expect(payments.refunds.size).toBe(refundsBefore);

      // Still signed, and still an event: an id and a type.
      const unsigned = await fetch(`${url}/v1/subscriptions/webhooks/fake`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(events[0]),
      });
      expect(unsigned.status).toBe(400);
      expect((await deliver({ type: 'customer.created' })).status).toBe(400);
      expect((await deliver({ id: `evt_${randomUUID()}`, type: 'not a type!' })).status).toBe(400);
      // The types it handles are validated as before.
      expect((await deliver({ id: `evt_${randomUUID()}`, type: 'invoice.payment_failed', data: {} })).status).toBe(400);
    });

    it('still refuses unknown fields in a member’s own request', async () => {
      const member = await registerAccount(url);
      const response = await post('/v1/subscriptions', member, { plan: 'premium', paymentToken: 'tok_visa', x: 1 });
      expect(response.status).toBe(400);
    });
  });

  describe('signatures first', () => {
    it('refuses an unsigned body without validating it', async () => {
      const junk = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i]));
      const response = await fetch(`${url}/v1/subscriptions/webhooks/fake`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(junk),
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await response.json()) as Record<string, unknown>;
      expect(problem.detail).toMatch(/signature/);
      expect(problem).not.toHaveProperty('errors');
    });

    it('applies a signed delivery whatever Authorization header the provider adds, reading none', async () => {
      const { member } = await premiumMember();
      const start = await periodEndOf(member);
      const authorizations = ['Basic cHJvdmlkZXI6c2VjcmV0', 'Bearer not-a-jwt', 'Bearer aaa.bbb.ccc'];
      for (const authorization of authorizations) {
        const event = {
          id: `evt_${randomUUID()}`,
          type: 'invoice.paid',
          data: { userId: member.userId, chargeId: `ch_${randomUUID()}` },
        };
        const body = JSON.stringify(event);
        const response = await fetch(`${url}/v1/subscriptions/webhooks/fake`, {
          method: 'POST',
          headers: {
            authorization,
            'content-type': 'application/json',
            'vesta-signature': sign(SECRET, body, Math.floor(Date.now() / 1000)),
          },
          body,
        });
        expect(response.status, authorization).toBe(200);
        expect(await response.json()).toEqual({ received: true, duplicate: false });
      }
      // Each delivery's charge paid for a period of its own.
      expect(await periodEndOf(member)).toBe(start + authorizations.length * PERIOD_MS);
    });

    it('applies a delivery signed with the old and the new secret, as a provider signs while its secret is rolled', async () => {
      const { member } = await premiumMember();
      const before = await periodEndOf(member);
      const body = JSON.stringify({
        id: `evt_${randomUUID()}`,
        type: 'invoice.paid',
        data: { userId: member.userId, chargeId: `ch_${randomUUID()}` },
      });
      const now = Math.floor(Date.now() / 1000);
      const mac = (secret: string) => sign(secret, body, now).split('v1=')[1];
      const response = await fetch(`${url}/v1/subscriptions/webhooks/fake`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'vesta-signature': `t=${now},v1=${mac('a-rolled-webhook-secret-of-32-characters')},v1=${mac(SECRET)}`,
        },
        body,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ received: true, duplicate: false });
      expect(await periodEndOf(member)).toBe(before + PERIOD_MS);
    });

    it('still validates a signed body, and claims nothing for it', async () => {
      const { member } = await premiumMember();
      const event = { id: `evt_${randomUUID()}`, type: 'invoice.paid', data: { userId: member.userId, chargeId: 'c' } };
      const invalid = await deliver({ ...event, extra: 1, data: { ...event.data, chargeId: 'no spaces allowed' } });
      expect(invalid.status).toBe(400);
      expect(((await invalid.json()) as { errors: unknown[] }).errors.length).toBeGreaterThan(0);
      expect(await (await deliver(event)).json()).toEqual({ received: true, duplicate: false });
    });
  });
});
