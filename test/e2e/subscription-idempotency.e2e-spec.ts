import { getConnectionToken } from '@nestjs/mongoose';
import type { Redis } from 'ioredis';
import { Types, type Collection, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REDIS_CLIENT } from '../../src/redis/redis.constants.js';
import { IdempotencyRecordsRepository } from '../../src/subscriptions/idempotency-records.repository.js';
import { IdempotencyService } from '../../src/subscriptions/idempotency.service.js';
import { FakePaymentProvider } from '../../src/subscriptions/payment-provider.js';
import { SubscriptionsRepository } from '../../src/subscriptions/subscriptions.repository.js';
import { paymentKey } from '../../src/subscriptions/subscriptions.service.js';
import { SubscriptionSweeper } from '../../src/subscriptions/subscription-sweeper.js';
import { SETTLE_AFTER_MS } from '../../src/subscriptions/unsettled-charges.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const PREMIUM = { plan: 'premium', paymentToken: 'tok_visa' };

describe('subscription Idempotency-Key: contention, crashed requests and reuse', () => {
  let running: RunningApp;
  let url: string;
  let payments: FakePaymentProvider;
  let redis: Redis;
  let keys: Collection<{ _id: string; [field: string]: unknown }>;
  let subscriptions: Collection;

  beforeAll(async () => {
    // A short request deadline keeps the "still running" wait (half of it) short.
    running = await startApp(testConfig({ HANDLER_TIMEOUT_MS: '4000' }));
    url = running.url;
    payments = running.app.get(FakePaymentProvider);
    redis = running.app.get<Redis>(REDIS_CLIENT);
    const connection = running.app.get<Connection>(getConnectionToken());
    keys = connection.collection('idempotency_keys');
    subscriptions = connection.collection('subscriptions');
  });

  afterAll(async () => {
    await running.close();
  });

  const post = (path: string, account: Account, body: unknown, key: string) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...account.auth },
      body: JSON.stringify(body),
    });
  const subscribe = (account: Account, key: string, body: unknown = PREMIUM) =>
    post('/v1/subscriptions', account, body, key);
  const amountsCharged = (account: Account) =>
    [...payments.charges.entries()]
      .filter(([key]) => key.startsWith(`${account.userId}:`))
      .map(([, charge]) => charge.amountMinor)
      .sort((a, b) => a - b);
  /** Puts a finished request's key back as its request left it while running, holding the key until `lockedUntil`. */
  const backToInProgress = (account: Account, key: string, lockedUntil: Date) =>
    keys.updateOne(
      { _id: `${account.userId}:${key}` },
      { $set: { state: 'in_progress', response: null, lockedBy: 'a-request-that-died', lockedUntil } },
    );

  it('does not keep a "change in progress" 409 as the key’s answer: the retry with that key runs', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    // Another change of this member holds the lock (as a concurrent request with another key would).
    await redis.set(`subscription-change:${member.userId}`, 'another-change', 'PX', 30_000);
    const refused = await subscribe(member, key);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/in progress; retry/);

    await redis.del(`subscription-change:${member.userId}`);
    const retry = await subscribe(member, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await retry.json()).toMatchObject({ plan: 'premium', status: 'active' });
    expect(amountsCharged(member)).toEqual([999]);
  });

  it('lets a retry take over the key of a request that died after charging, and charges nothing more', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    expect((await subscribe(member, key)).status).toBe(201);
    // The request died after the charge, before recording the subscription or its answer.
    await subscriptions.deleteOne({ userId: new Types.ObjectId(member.userId) });
    await backToInProgress(member, key, new Date(Date.now() - 1_000));

    const retry = await subscribe(member, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await retry.json()).toMatchObject({ plan: 'premium', status: 'active' });
    expect(amountsCharged(member)).toEqual([999]);
    const replay = await subscribe(member, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('answers a retry of a request that died after recording the subscription with that subscription', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    const refundsBefore = payments.refunds.size;
    const first = await subscribe(member, key);
    expect(first.status).toBe(201);
    const created: unknown = await first.json();
    // The request died after recording the subscription, before recording its answer (or that write failed).
    await backToInProgress(member, key, new Date(Date.now() - 1_000));

    const retry = await subscribe(member, key);
    expect(retry.status).toBe(201);
    expect(await retry.json()).toEqual(created);
    expect(amountsCharged(member)).toEqual([999]);
    expect(payments.refunds.size).toBe(refundsBefore);
  });

  it('answers a retry of an upgrade that died after recording it with the upgraded subscription', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member, randomUUID())).status).toBe(201);
    const key = randomUUID();
    const upgrade = { plan: 'platinum', paymentToken: 'tok_visa' };
    const first = await post('/v1/subscriptions/me/plan', member, upgrade, key);
    expect(first.status).toBe(200);
    const upgraded: unknown = await first.json();
    await backToInProgress(member, key, new Date(Date.now() - 1_000));

    const retry = await post('/v1/subscriptions/me/plan', member, upgrade, key);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual(upgraded);
    expect(amountsCharged(member)).toEqual([999, 1999]);
  });

  it('answers a retry of a downgrade take-back that died after applying it with the subscription, not 409', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member, randomUUID(), { plan: 'platinum', paymentToken: 'tok_visa' })).status).toBe(201);
    expect((await post('/v1/subscriptions/me/plan', member, { plan: 'premium' }, randomUUID())).status).toBe(200);
    const key = randomUUID();
    const takeBack = await post('/v1/subscriptions/me/plan', member, { plan: 'platinum' }, key);
    expect(takeBack.status).toBe(200);
    const kept = (await takeBack.json()) as { plan: string; pendingPlan?: string };
    expect([kept.plan, kept.pendingPlan]).toEqual(['platinum', undefined]);
    await backToInProgress(member, key, new Date(Date.now() - 1_000));

    const retry = await post('/v1/subscriptions/me/plan', member, { plan: 'platinum' }, key);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual(kept);
    // A new request for the plan already held is still refused.
    expect((await post('/v1/subscriptions/me/plan', member, { plan: 'platinum' }, randomUUID())).status).toBe(409);
  });

  it('answers an upgrade whose answer could not be stored with the upgrade, and a later retry with the same', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member, randomUUID())).status).toBe(201);
    const records = running.app.get(IdempotencyRecordsRepository);
    const finish = records.finish.bind(records);
    records.finish = () => Promise.reject(new Error('not primary')); // a failover during the answer's write
    const key = randomUUID();
    const upgrade = { plan: 'platinum', paymentToken: 'tok_visa' };
    let upgraded: unknown;
    try {
      const first = await post('/v1/subscriptions/me/plan', member, upgrade, key);
      expect(first.status).toBe(200);
      upgraded = await first.json();
    } finally {
      records.finish = finish;
    }
    expect(upgraded).toMatchObject({ plan: 'platinum', status: 'active' });
    // The key stays held until its lease lapses; the retry after that runs again and finds the upgrade made.
    await keys.updateOne({ _id: `${member.userId}:${key}` }, { $set: { lockedUntil: new Date(Date.now() - 1_000) } });
    const retry = await post('/v1/subscriptions/me/plan', member, upgrade, key);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual(upgraded);
    expect(amountsCharged(member)).toEqual([999, 1999]);
  });

  it('tells a duplicate of a request still running "409 still running" before its own deadline', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    expect((await subscribe(member, key)).status).toBe(201);
    await backToInProgress(member, key, new Date(Date.now() + 60_000));

    const duplicate = await subscribe(member, key);
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await duplicate.json()) as { detail: string }).detail).toMatch(/still running/);
  });

  it('charges an upgrade made with a key once used to subscribe, after that answer was purged', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    expect((await subscribe(member, key)).status).toBe(201);
    // A day later the sweep has forgotten the answer.
    await running.app.get(IdempotencyService).purgeExpired(new Date(Date.now() + 25 * 3600 * 1000));

    const upgraded = await post(
      '/v1/subscriptions/me/plan',
      member,
      { plan: 'platinum', paymentToken: 'tok_visa' },
      key,
    );
    expect(upgraded.status).toBe(200);
    expect(await upgraded.json()).toMatchObject({ plan: 'platinum', status: 'active' });
    expect(amountsCharged(member)).toEqual([999, 1999]);
  });

  it('refuses a key reused after its answer was purged when the processor gives back the charge it already made', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    expect((await subscribe(member, key)).status).toBe(201);
    expect((await post('/v1/subscriptions/me/cancel', member, {}, randomUUID())).status).toBe(200);
    // The canceled period is over, the answer purged; this processor keeps its keys for longer than a day.
    await subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { currentPeriodEnd: new Date(Date.now() - 1_000) } },
    );
    await running.app.get(IdempotencyService).purgeExpired(new Date(Date.now() + 25 * 3600 * 1000));

    const reused = await subscribe(member, key);
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { detail: string }).detail).toMatch(/use a new key/);
    expect(amountsCharged(member)).toEqual([999]);
    const after = (await (await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).json()) as {
      cancelAtPeriodEnd: boolean;
      currentPeriodEnd: string;
    };
    expect(after.cancelAtPeriodEnd).toBe(true);
    expect(Date.parse(after.currentPeriodEnd)).toBeLessThan(Date.now());
  });

  it('refuses, and refunds again, a refunded charge that the processor gives back to a key reused after a day', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    // Another start lands between this one's read and its write (as a run whose lock lapsed would): this one's charge
    // pays for nothing and is refunded.
    const repository = running.app.get(SubscriptionsRepository);
    const start = repository.start.bind(repository);
    const racing = vi.spyOn(repository, 'start').mockImplementationOnce(async (userId, period) => {
      await start(userId, { ...period, chargeId: `ch_${randomUUID()}`, paymentKeys: [] });
      return start(userId, period);
    });
    const raced = await subscribe(member, key);
    racing.mockRestore();
    expect(raced.status).toBe(409);
    const refunded = payments.charges.get(paymentKey(member.userId, 'subscribe', 'premium', key))!.id;
    expect(payments.refunds.has(refunded)).toBe(true);
    // The subscription that won is canceled and over, the 409 purged; this processor keeps its keys for longer.
    expect((await post('/v1/subscriptions/me/cancel', member, {}, randomUUID())).status).toBe(200);
    await subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { currentPeriodEnd: new Date(Date.now() - 1_000) } },
    );
    await running.app.get(IdempotencyService).purgeExpired(new Date(Date.now() + 25 * 3600 * 1000));
    const refunds = vi.spyOn(payments, 'refund');

    const reused = await subscribe(member, key);
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { detail: string }).detail).toMatch(/use a new key/);
    expect(refunds).toHaveBeenCalledWith(refunded);
    refunds.mockRestore();
    const after = (await (await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).json()) as {
      cancelAtPeriodEnd: boolean;
      currentPeriodEnd: string;
    };
    expect(after.cancelAtPeriodEnd).toBe(true);
    expect(Date.parse(after.currentPeriodEnd)).toBeLessThan(Date.now());
  });

  it('upgrades again, and charges, with the key of an upgrade made more than a day before', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member, randomUUID())).status).toBe(201);
    const key = randomUUID();
    const upgrade = { plan: 'platinum', paymentToken: 'tok_visa' };
    expect((await post('/v1/subscriptions/me/plan', member, upgrade, key)).status).toBe(200);
    expect((await post('/v1/subscriptions/me/plan', member, { plan: 'premium' }, randomUUID())).status).toBe(200);
    const repository = running.app.get(SubscriptionsRepository);
    const record = await repository.findByUser(member.userId);
    expect(await repository.renew(record!, `ch_${randomUUID()}`, new Date())).toMatchObject({ plan: 'premium' });
    // A day later: the renewed period has started, the answer is purged, the use of the key is a day old, and the
    // processor, keeping keys for 24 h, has forgotten it.
    const dayAgo = new Date(Date.now() - 25 * 3600 * 1000);
    const { recentPaymentKeys } = (await repository.findByUser(member.userId))!;
    const aged = recentPaymentKeys.map((use) => ({ ...use, at: dayAgo }));
    await subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { recentPaymentKeys: aged, currentPeriodStart: dayAgo } },
    );
    await running.app.get(IdempotencyService).purgeExpired(new Date(Date.now() + 25 * 3600 * 1000));
    const processorKey = paymentKey(member.userId, 'change-plan', 'platinum', key);
    const firstCharge = payments.charges.get(processorKey)!.id;
    payments.charges.delete(processorKey);

    const again = await post('/v1/subscriptions/me/plan', member, upgrade, key);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ plan: 'platinum', status: 'active' });
    expect(payments.charges.get(processorKey)!.id).not.toBe(firstCharge);
    expect((await repository.findByUser(member.userId))!.lastChargeId).toBe(payments.charges.get(processorKey)!.id);
  });

  it('answers a retry of a subscribe that died after recording it with the subscription, though it changed since', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    expect((await subscribe(member, key)).status).toBe(201);
    await backToInProgress(member, key, new Date(Date.now() - 1_000));
    const upgrade = { plan: 'platinum', paymentToken: 'tok_visa' };
    expect((await post('/v1/subscriptions/me/plan', member, upgrade, randomUUID())).status).toBe(200);

    const retry = await subscribe(member, key);
    expect(retry.status).toBe(201);
    expect(await retry.json()).toMatchObject({ plan: 'platinum', status: 'active' });
    expect(amountsCharged(member)).toEqual([999, 1999]);
  });

  it('answers 422 when the processor refuses a key it charged another amount under, and records nothing', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    // Charged under this key when premium cost €4.99.
    payments.charges.set(paymentKey(member.userId, 'subscribe', 'premium', key), {
      id: `ch_${randomUUID()}`,
      amountMinor: 499,
      currency: 'EUR',
    });

    const refused = await subscribe(member, key);
    expect(refused.status).toBe(422);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/another payment/);
    expect((await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).status).toBe(404);
  });

  describe('a charge whose write failed', () => {
    const upgrade = { plan: 'platinum', paymentToken: 'tok_visa' };
    const changePlan = (member: Account, key: string) => post('/v1/subscriptions/me/plan', member, upgrade, key);
    /** The upgrade's write fails once after the charge, as on a database that went down in between. */
    const failingUpgrade = () => {
      const repository = running.app.get(SubscriptionsRepository);
      return vi.spyOn(repository, 'upgrade').mockRejectedValueOnce(new Error('connection reset by the database'));
    };
    /** A new member's subscribe, then an upgrade that charges and fails in its write (5xx); returns the member and key. */
    const upgradeWhoseWriteFailed = async () => {
      const member = await registerAccount(url);
      expect((await subscribe(member, randomUUID())).status).toBe(201);
      const key = randomUUID();
      const failing = failingUpgrade();
      expect((await changePlan(member, key)).status).toBeGreaterThanOrEqual(500);
      failing.mockRestore();
      return { member, key };
    };
    const chargeOf = (member: Account, key: string) =>
      payments.charges.get(paymentKey(member.userId, 'change-plan', 'platinum', key))!.id;
    const sweepLater = () =>
      running.app.get(SubscriptionSweeper).settleCharges(new Date(Date.now() + SETTLE_AFTER_MS + 1_000));

    // Until 2026-12-05 the charge was recorded nowhere: a second tap with a new key upgraded, the retry of the first
    // was refused "Already on platinum", and the member paid for the upgrade twice.
    it('is refunded by the sweep when another change landed and its retry was refused', async () => {
      const member = await registerAccount(url);
      expect((await subscribe(member, randomUUID())).status).toBe(201);
      const [first, second] = [randomUUID(), randomUUID()];
      const failing = failingUpgrade();
      expect((await changePlan(member, first)).status).toBeGreaterThanOrEqual(500);
      failing.mockRestore();
      expect((await changePlan(member, second)).status).toBe(200);
      const retry = await changePlan(member, first);
      expect(retry.status).toBe(409);

      expect(payments.refunds.has(chargeOf(member, first))).toBe(false);
      await sweepLater();
      expect(payments.refunds.has(chargeOf(member, first))).toBe(true);
      expect(payments.refunds.has(chargeOf(member, second))).toBe(false);
    });

    it('is refunded by the sweep even when another charge’s refund keeps failing, which stays noted', async () => {
      const disputed = await upgradeWhoseWriteFailed();
      const other = await upgradeWhoseWriteFailed();
      // A processor refuses to refund a charge its member disputed with their bank, on every attempt.
      const refund = payments.refund.bind(payments);
      const refusing = vi.spyOn(payments, 'refund').mockImplementation((chargeId) => {
        if (chargeId === chargeOf(disputed.member, disputed.key)) return Promise.reject(new Error('charge_disputed'));
        return refund(chargeId);
      });
      try {
        await sweepLater();
        expect(payments.refunds.has(chargeOf(other.member, other.key))).toBe(true);
        refusing.mockRestore();
        // Left noted, it is refunded by a later run once the processor takes the refund.
        await sweepLater();
        expect(payments.refunds.has(chargeOf(disputed.member, disputed.key))).toBe(true);
      } finally {
        refusing.mockRestore();
      }
    });

    it('ends the sweep’s run when the database fails, rather than waiting for it once per charge', async () => {
      const { member, key } = await upgradeWhoseWriteFailed();
      const repository = running.app.get(SubscriptionsRepository);
      const down = vi.spyOn(repository, 'findForChange').mockRejectedValue(new Error('server selection timed out'));
      try {
        await expect(sweepLater()).rejects.toThrow('server selection timed out');
        expect(down).toHaveBeenCalledTimes(1);
      } finally {
        down.mockRestore();
      }
      // Still noted: the next run, with the database back, refunds it.
      await sweepLater();
      expect(payments.refunds.has(chargeOf(member, key))).toBe(true);
    });

    it('is kept when the retry with its key applied it', async () => {
      const { member, key } = await upgradeWhoseWriteFailed();
      expect((await changePlan(member, key)).status).toBe(200);

      await sweepLater();
      expect(payments.refunds.has(chargeOf(member, key))).toBe(false);
      expect(amountsCharged(member)).toEqual([999, 1999]);
    });
  });
});
