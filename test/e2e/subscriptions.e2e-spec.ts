import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Collection, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakePaymentProvider } from '../../src/subscriptions/payment-provider.js';
import { RENEWAL_WAIT_MS } from '../../src/subscriptions/plans.js';
import { GRACE_MS, SubscriptionSweeper } from '../../src/subscriptions/subscription-sweeper.js';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { login, registerAccount, type Account } from '../factories/accounts.js';
import { createProfile } from '../factories/profiles.js';
import { uniqueCity } from '../factories/names.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

describe('subscriptions', () => {
  let running: RunningApp;
  let url: string;
  let payments: FakePaymentProvider;

  beforeAll(async () => {
    running = await startApp(testConfig({ VIEW_BUFFER_MS: '20', PAYMENT_TIMEOUT_MS: '500' }));
    url = running.url;
    payments = running.app.get(FakePaymentProvider);
  });

  afterAll(async () => {
    await running.close();
  });

  const post = (path: string, account: Account, body: unknown, key?: string) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...account.auth,
        ...(key !== undefined && { 'idempotency-key': key }),
      },
      body: JSON.stringify(body),
    });
  const subscribe = (
    account: Account,
    key: string = randomUUID(),
    body: unknown = { plan: 'premium', paymentToken: 'tok_visa' },
  ) => post('/v1/subscriptions', account, body, key);
  const mine = async (account: Account) =>
    (await (await fetch(`${url}/v1/subscriptions/me`, { headers: account.auth })).json()) as Record<string, unknown>;
  const chargesFor = (account: Account) =>
    [...payments.charges.keys()].filter((key) => key.startsWith(`${account.userId}:`)).length;

  it('serves the plan catalogue publicly, cacheable, with prices in minor units', async () => {
    const response = await fetch(`${url}/v1/plans`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toMatch(/^public, max-age=\d+$/);
    const plans = (await response.json()) as { id: string; priceMinor: number; features: string[] }[];
    expect(plans.map((p) => [p.id, p.priceMinor])).toEqual([
      ['free', 0],
      ['premium', 999],
      ['platinum', 1999],
    ]);
    expect(plans[1].features).toContain('who-viewed-me');
  });

  it('subscribes once per Idempotency-Key: a retry replays the answer and charges nothing more', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    const first = await subscribe(member, key);
    expect(first.status).toBe(201);
    expect(first.headers.get('location')).toBe('/v1/subscriptions/me');
    const created = (await first.json()) as Record<string, string>;
    expect(created).toMatchObject({ plan: 'premium', status: 'active', cancelAtPeriodEnd: false });
    // Optional fields are left out, never null.
    expect(created).not.toHaveProperty('pendingPlan');
    const periodMs = Date.parse(created.currentPeriodEnd) - Date.parse(created.currentPeriodStart);
    expect(periodMs).toBe(30 * 24 * 3600 * 1000);

    const retry = await subscribe(member, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.headers.get('location')).toBe('/v1/subscriptions/me');
    expect(await retry.json()).toEqual(created);
    expect(chargesFor(member)).toBe(1);
    // The IETF draft's form of the header, a Structured Field string, names the same key.
    const quoted = await subscribe(member, `"${key}"`);
    expect(quoted.status).toBe(201);
    expect(quoted.headers.get('idempotent-replayed')).toBe('true');
    expect(chargesFor(member)).toBe(1);

    const again = await subscribe(member);
    expect(again.status).toBe(409);
    expect(chargesFor(member)).toBe(1);

    // Billing data is personal: no browser or proxy may keep it.
    const own = await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth });
    expect(own.status).toBe(200);
    expect(own.headers.get('cache-control')).toBe('private, no-store');
  });

  it('lets a page on another origin read that an answer is a replay (CORS exposes Idempotent-Replayed)', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    const fromPage = () =>
      fetch(`${url}/v1/subscriptions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          origin: 'https://app.example.test',
          'idempotency-key': key,
          ...member.auth,
        },
        body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
      });
    expect((await fromPage()).status).toBe(201);
    const retry = await fromPage();
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    // A browser hides every response header but the safelisted ones and those exposed here.
    const exposed = (retry.headers.get('access-control-expose-headers') ?? '').toLowerCase().split(/,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['idempotent-replayed', 'location']));
  });

  it('turns 10 parallel duplicates into one subscription and one charge', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    const responses = await Promise.all(Array.from({ length: 10 }, () => subscribe(member, key)));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(201));
    const bodies = await Promise.all(responses.map((r) => r.json()));
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(chargesFor(member)).toBe(1);
  });

  it('charges one of 20 simultaneous upgrades with different keys and refuses the others before charging', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member)).status).toBe(201);
    const refundsBefore = payments.refunds.size;
    const upgrade = { plan: 'platinum', paymentToken: 'tok_visa' };
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => post('/v1/subscriptions/me/plan', member, upgrade, randomUUID())),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, ...Array<number>(19).fill(409)]);
    expect(chargesFor(member)).toBe(2); // the subscription and one upgrade
    expect(payments.refunds.size).toBe(refundsBefore);
    expect(await mine(member)).toMatchObject({ plan: 'platinum', status: 'active' });
  });

  it('refuses a reused key with another body (422), a missing key, tampered prices and unknown plans (400)', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    expect((await subscribe(member, key)).status).toBe(201);
    const reused = await subscribe(member, key, { plan: 'platinum', paymentToken: 'tok_visa' });
    expect(reused.status).toBe(422);
    expect(reused.headers.get('content-type')).toMatch(/^application\/problem\+json/);

    const other = await registerAccount(url);
    expect((await post('/v1/subscriptions', other, { plan: 'premium', paymentToken: 'tok_visa' })).status).toBe(400);
    for (const badKey of ['short', `"${randomUUID()}`, `${randomUUID()}"`, `"${randomUUID()}"x`, 'a b c d e f g h']) {
      expect((await subscribe(other, badKey)).status, badKey).toBe(400);
    }
    for (const body of [
      { plan: 'premium', paymentToken: 'tok_visa', priceMinor: 1 },
      { plan: 'premium', paymentToken: 'tok_visa', currency: 'USD' },
      { plan: 'free', paymentToken: 'tok_visa' },
      { plan: 'gold', paymentToken: 'tok_visa' },
      { plan: 'premium', paymentToken: 'tok visa; drop' },
    ]) {
      expect((await subscribe(other, randomUUID(), body)).status, JSON.stringify(body)).toBe(400);
    }
    expect(chargesFor(other)).toBe(0);
    expect((await fetch(`${url}/v1/subscriptions/me`, { headers: other.auth })).status).toBe(404);
  });

  it('answers 402 for a declined card and records nothing', async () => {
    const member = await registerAccount(url);
    const response = await subscribe(member, randomUUID(), {
      plan: 'premium',
      paymentToken: 'tok_decline_insufficient',
    });
    expect(response.status).toBe(402);
    expect((await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).status).toBe(404);
  });

  it('gives up on a processor that does not answer, freeing the member’s changes, and applies its charge on the retry', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    const processorCharge = payments.charge.bind(payments);
    // The processor makes the charge, but its answer never comes back.
    vi.spyOn(payments, 'charge').mockImplementationOnce((request) => {
      void processorCharge(request);
      return new Promise(() => undefined);
    });

    const unanswered = await subscribe(member, key);
    expect(unanswered.status).toBe(503);
    expect(((await unanswered.json()) as { detail: string }).detail).toMatch(/^The payment processor did not answer/);
    expect(chargesFor(member)).toBe(1);

    // The key keeps its body: until 2026-12-06 a failed request's key was deleted for its retry, and a retry for
    // another plan ran as a new request and charged again, beside the charge the processor had made.
    const other = await subscribe(member, key, { plan: 'platinum', paymentToken: 'tok_visa' });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(chargesFor(member)).toBe(1);

    const retry = await subscribe(member, key);
    expect(retry.status).toBe(201);
    expect(chargesFor(member)).toBe(1);
    expect(await mine(member)).toMatchObject({ plan: 'premium', status: 'active' });
  });

  it('marks a replayed refusal as replayed, as it marks a replayed success', async () => {
    const member = await registerAccount(url);
    const key = randomUUID();
    const declined = { plan: 'premium', paymentToken: 'tok_decline_insufficient' };
    const first = await subscribe(member, key, declined);
    expect(first.status).toBe(402);
    expect(first.headers.get('idempotent-replayed')).toBeNull();

    const retry = await subscribe(member, key, declined);
    expect(retry.status).toBe(402);
    expect(retry.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(((await retry.json()) as { detail: string }).detail).toBe(
      ((await first.json()) as { detail: string }).detail,
    );
  });

  it('cancels at period end, resumes, upgrades at once and downgrades at period end; illegal moves are 409', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member)).status).toBe(201);

    expect(
      ((await (await post('/v1/subscriptions/me/cancel', member, {})).json()) as Record<string, unknown>)
        .cancelAtPeriodEnd,
    ).toBe(true);
    expect((await post('/v1/subscriptions/me/cancel', member, {})).status).toBe(409);
    expect(
      ((await (await post('/v1/subscriptions/me/resume', member, {})).json()) as Record<string, unknown>)
        .cancelAtPeriodEnd,
    ).toBe(false);
    expect((await post('/v1/subscriptions/me/resume', member, {})).status).toBe(409);

    expect((await post('/v1/subscriptions/me/plan', member, { plan: 'platinum' }, randomUUID())).status).toBe(400);
    const upgraded = await post(
      '/v1/subscriptions/me/plan',
      member,
      { plan: 'platinum', paymentToken: 'tok_visa' },
      randomUUID(),
    );
    expect(upgraded.status).toBe(200);
    expect(await upgraded.json()).toMatchObject({ plan: 'platinum', status: 'active' });
    expect(chargesFor(member)).toBe(2);

    const downgraded = await post('/v1/subscriptions/me/plan', member, { plan: 'premium' }, randomUUID());
    expect(downgraded.status).toBe(200);
    expect(await downgraded.json()).toMatchObject({ plan: 'platinum', pendingPlan: 'premium' });
    expect(await mine(member)).toMatchObject({ plan: 'platinum', pendingPlan: 'premium' });
    // Choosing the current plan again takes the downgrade back, free of charge; once more is 409.
    const kept = await post('/v1/subscriptions/me/plan', member, { plan: 'platinum' }, randomUUID());
    const keptBody = (await kept.json()) as Record<string, unknown>;
    expect(keptBody).toMatchObject({ plan: 'platinum' });
    expect(keptBody).not.toHaveProperty('pendingPlan');
    expect((await post('/v1/subscriptions/me/plan', member, { plan: 'platinum' }, randomUUID())).status).toBe(409);
    expect(chargesFor(member)).toBe(2);
  });

  it('keeps a cancellation through an upgrade: the upgraded period ends without renewal unless the member resumes', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member)).status).toBe(201);
    expect((await post('/v1/subscriptions/me/cancel', member, {})).status).toBe(200);

    const upgraded = await post(
      '/v1/subscriptions/me/plan',
      member,
      { plan: 'platinum', paymentToken: 'tok_visa' },
      randomUUID(),
    );
    expect(upgraded.status).toBe(200);
    expect(await upgraded.json()).toMatchObject({ plan: 'platinum', status: 'active', cancelAtPeriodEnd: true });
    expect(await mine(member)).toMatchObject({ plan: 'platinum', cancelAtPeriodEnd: true });

    const resumed = await post('/v1/subscriptions/me/resume', member, {});
    expect(await resumed.json()).toMatchObject({ plan: 'platinum', cancelAtPeriodEnd: false });
  });

  it('closes the abuse paths: no second subscription while one is live, no free "downgrade", no trial', async () => {
    const member = await registerAccount(url);
    expect((await subscribe(member)).status).toBe(201);
    expect((await post('/v1/subscriptions/me/cancel', member, {})).status).toBe(200);
    // Canceled but still paid up: a new subscription would stack a second period; resume instead.
    expect((await subscribe(member, randomUUID(), { plan: 'platinum', paymentToken: 'tok_visa' })).status).toBe(409);
    // Leaving the paid plans is a cancellation, never a downgrade to free (which would end the period early).
    expect((await post('/v1/subscriptions/me/plan', member, { plan: 'free' }, randomUUID())).status).toBe(400);
    // Nothing is granted without a charge: a declined card gets no premium access at all.
    const declined = await registerAccount(url);
    await subscribe(declined, randomUUID(), { plan: 'premium', paymentToken: 'tok_decline' });
    expect((await fetch(`${url}/v1/profiles/me/viewers`, { headers: declined.auth })).status).toBe(403);
    expect(chargesFor(member)).toBe(1);
  });

  it('acts only on the caller’s own subscription', async () => {
    const [alice, bob] = [await registerAccount(url), await registerAccount(url)];
    expect((await subscribe(alice)).status).toBe(201);
    expect((await fetch(`${url}/v1/subscriptions/me`, { headers: bob.auth })).status).toBe(404);
    expect((await post('/v1/subscriptions/me/cancel', bob, {})).status).toBe(404);
    expect(await mine(alice)).toMatchObject({ cancelAtPeriodEnd: false });
    expect((await fetch(`${url}/v1/subscriptions/me`)).status).toBe(401);
  });

  it('opens "who viewed me" to premium members in the very next request after subscribing', async () => {
    const member = await registerAccount(url);
    const memberProfile = await createProfile(url, member);
    const viewer = await registerAccount(url);
    const viewerProfile = await createProfile(url, viewer, { displayName: 'Curious' });
    expect((await fetch(`${url}/v1/profiles/${memberProfile.id}`, { headers: viewer.auth })).status).toBe(200);

    const denied = await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth });
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ requiredPlan: 'premium', plan: 'free' });

    expect((await subscribe(member)).status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 100)); // views reach Redis every VIEW_BUFFER_MS (20 ms here)
    const allowed = await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth });
    expect(allowed.status).toBe(200);
    const viewers = (await allowed.json()) as { viewedAt: string; profile: { id: string; displayName: string } }[];
    expect(viewers.map((v) => v.profile.id)).toEqual([viewerProfile.id]);
    expect(viewers[0].profile.displayName).toBe('Curious');

    expect((await post('/v1/subscriptions/me/cancel', member, {})).status).toBe(200);
    // Canceled at period end: still paid up, so still premium.
    expect((await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth })).status).toBe(200);
  });

  it('opens advanced search (all-of interests, minimum views) to premium members only', async () => {
    const tag = randomUUID().slice(0, 8);
    const [both, one] = [await registerAccount(url), await registerAccount(url)];
    const bothProfile = await createProfile(url, both, { interests: [`jazz${tag}`, `chess${tag}`] });
    await createProfile(url, one, { interests: [`jazz${tag}`] });
    const search = (account: Account, query: string) =>
      fetch(`${url}/v1/profiles/advanced?${query}`, { headers: account.auth });
    const member = await registerAccount(url);

    expect((await search(member, `interestsAll=jazz${tag},chess${tag}`)).status).toBe(403);
    // The public search does not take the premium filters at all.
    expect((await fetch(`${url}/v1/profiles?interestsAll=jazz${tag}`)).status).toBe(400);

    expect((await subscribe(member)).status).toBe(201);
    const page = (await (await search(member, `interestsAll=jazz${tag},chess${tag}`)).json()) as {
      items: { id: string }[];
    };
    expect(page.items.map((p) => p.id)).toEqual([bothProfile.id]);
    const anyOf = (await (await search(member, `interests=jazz${tag}`)).json()) as { items: unknown[] };
    expect(anyOf.items).toHaveLength(2);
    const popularOnly = (await (await search(member, `interests=jazz${tag}&minViews=1000000`)).json()) as {
      items: unknown[];
    };
    expect(popularOnly.items).toEqual([]);
  });

  it('reports active subscriptions per plan to Prometheus', async () => {
    const metrics = await (await fetch(`${running.metricsUrl}/metrics`)).text();
    // Earlier tests in this file left several premium and one platinum subscription (this app's database).
    expect(Number(/^vesta_active_subscriptions\{plan="premium"\} (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(
      3,
    );
    expect(metrics).toMatch(/^vesta_active_subscriptions\{plan="platinum"\} [1-9]/m);
  });
});

describe('subscription sweep (expiry and failed renewals)', () => {
  let running: RunningApp;
  let url: string;
  let sweeper: SubscriptionSweeper;
  let subscriptions: Collection;

  beforeAll(async () => {
    running = await startApp(testConfig());
    url = running.url;
    sweeper = running.app.get(SubscriptionSweeper);
    subscriptions = running.app.get<Connection>(getConnectionToken()).collection('subscriptions');
  });

  afterAll(async () => {
    await running.close();
  });

  const subscribed = async (): Promise<Account> => {
    const member = await registerAccount(url);
    const response = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
    });
    expect(response.status).toBe(201);
    return member;
  };
  /** What the clock would have done: the paid period ended `agoMs` ago. */
  const endPeriod = (member: Account, agoMs: number, extra: Record<string, unknown> = {}) =>
    subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { currentPeriodEnd: new Date(Date.now() - agoMs), ...extra } },
    );
  const mineOf = async (member: Account) =>
    (await (await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).json()) as Record<string, unknown>;
  const statusOf = async (member: Account) => (await mineOf(member)).status;
  const viewers = async (member: Account) =>
    (await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth })).status;

  it('cancels, marks past due and expires what has ended, once, and closes premium routes at once', async () => {
    const [canceling, awaiting, unpaid, overdue, current] = [
      await subscribed(),
      await subscribed(),
      await subscribed(),
      await subscribed(),
      await subscribed(),
    ];
    await createProfile(url, unpaid);
    await createProfile(url, awaiting);
    expect(await viewers(unpaid)).toBe(200); // premium, and now cached as such

    expect((await fetch(`${url}/v1/subscriptions/me/cancel`, { method: 'POST', headers: canceling.auth })).status).toBe(
      200,
    );
    await endPeriod(canceling, 1_000);
    await endPeriod(awaiting, 1_000);
    await endPeriod(unpaid, RENEWAL_WAIT_MS + 1_000);
    await endPeriod(overdue, GRACE_MS + 60_000, { status: 'past_due' });

    expect(await sweeper.sweep()).toEqual({ canceled: 1, past_due: 1, expired: 1 });
    expect(await statusOf(canceling)).toBe('canceled');
    expect(await statusOf(unpaid)).toBe('past_due');
    expect(await statusOf(overdue)).toBe('expired');
    expect(await statusOf(current)).toBe('active');
    // Its renewal may still be confirmed: it keeps its plan meanwhile.
    expect(await statusOf(awaiting)).toBe('active');
    expect(await viewers(awaiting)).toBe(200);
    // The sweep evicted the cached entitlement: the next request is refused.
    expect(await viewers(unpaid)).toBe(403);

    expect(await sweeper.sweep()).toEqual({ canceled: 0, past_due: 0, expired: 0 });
  });

  /**
   * A member whose premium access ends 3 s from now by the clock alone, with its status cached before that: its paid
   * period ends `endsInMs` from now, plus the renewal wait for one that renews.
   */
  const premiumFor3sMore = async (endsInMs: number, changes: Record<string, unknown> = {}) => {
    const member = await subscribed();
    await createProfile(url, member);
    // Past the cache's second invalidation pass after the subscribe, which would drop the entry by itself.
    await new Promise((resolve) => setTimeout(resolve, 700));
    await subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { currentPeriodEnd: new Date(Date.now() + endsInMs), ...changes } },
    );
    expect(await viewers(member)).toBe(200); // premium, cached with the period's end
    return member;
  };

  it('closes premium routes when a canceled period ends, with the entitlement cached and no sweep run', async () => {
    const member = await premiumFor3sMore(3_000, { cancelAtPeriodEnd: true });
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    expect(await viewers(member)).toBe(403);
  });

  it('keeps premium routes open past the period end while the renewal is awaited, then closes them', async () => {
    const member = await premiumFor3sMore(3_000 - RENEWAL_WAIT_MS);
    expect((await mineOf(member)).status).toBe('active');
    await new Promise((resolve) => setTimeout(resolve, 3_100));
    expect(await viewers(member)).toBe(403);
  });

  it('deletes expired Idempotency-Key answers and day-old webhook claims', async () => {
    const connection = running.app.get<Connection>(getConnectionToken());
    const keys = connection.collection<{ _id: string; [field: string]: unknown }>('idempotency_keys');
    const events = connection.collection<{ _id: string; [field: string]: unknown }>('webhook_events');
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600 * 1000);
    const [expiredKey, liveKey] = [`old-${randomUUID()}`, `new-${randomUUID()}`];
    await keys.insertMany([
      { _id: expiredKey, requestHash: 'x', state: 'done', response: null, expiresAt: hoursAgo(1) },
      { _id: liveKey, requestHash: 'x', state: 'done', response: null, expiresAt: hoursAgo(-1) },
    ]);
    // Kept for a day: a provider's retry of an event within that day must still find it claimed.
    const [dayOld, hoursOld, fresh] = [25, 23, 0].map((hours) => ({
      _id: `fake:${hours}h-${randomUUID()}`,
      type: 'invoice.paid',
      createdAt: hoursAgo(hours),
    }));
    await events.insertMany([dayOld, hoursOld, fresh]);
    await sweeper.sweep();
    expect(await keys.countDocuments({ _id: { $in: [expiredKey, liveKey] } })).toBe(1);
    expect(await keys.findOne({ _id: liveKey })).not.toBeNull();
    const left = await events.find({ _id: { $in: [dayOld._id, hoursOld._id, fresh._id] } }).toArray();
    expect(left.map((event) => event._id).sort()).toEqual([hoursOld._id, fresh._id].sort());
  });

  it('refuses to resume a cancellation whose period has ended, and lets its member subscribe again before the sweep', async () => {
    const member = await subscribed();
    const cancel = await fetch(`${url}/v1/subscriptions/me/cancel`, { method: 'POST', headers: member.auth });
    expect(cancel.status).toBe(200);
    await endPeriod(member, 1_000);
    const resume = await fetch(`${url}/v1/subscriptions/me/resume`, { method: 'POST', headers: member.auth });
    expect(resume.status).toBe(409);
    expect(await resume.json()).toMatchObject({
      detail: 'The canceled subscription ended with its paid period: subscribe again',
    });
    expect(await mineOf(member)).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });

    const again = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify({ plan: 'platinum', paymentToken: 'tok_visa' }),
    });
    expect(again.status).toBe(201);
    const restarted = (await again.json()) as { currentPeriodEnd: string };
    expect(restarted).toMatchObject({ plan: 'platinum', status: 'active', cancelAtPeriodEnd: false });
    expect(Date.parse(restarted.currentPeriodEnd)).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);
    // The sweep finds nothing of the old period to cancel.
    await sweeper.sweep();
    expect(await mineOf(member)).toMatchObject({ plan: 'platinum', status: 'active' });
  });

  it('refuses a plan change once a canceled period has ended, before the sweep, charging nothing', async () => {
    const member = await subscribed();
    expect((await fetch(`${url}/v1/subscriptions/me/cancel`, { method: 'POST', headers: member.auth })).status).toBe(
      200,
    );
    await endPeriod(member, 1_000);
    const changePlan = (body: Record<string, unknown>) =>
      fetch(`${url}/v1/subscriptions/me/plan`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
        body: JSON.stringify(body),
      });
    const before = await subscriptions.findOne({ userId: new Types.ObjectId(member.userId) });
    // An upgrade charged for a period that would not renew; the same request after the sweep is 409.
    const upgrade = await changePlan({ plan: 'platinum', paymentToken: 'tok_visa' });
    expect(upgrade.status).toBe(409);
    expect(await upgrade.json()).toMatchObject({
      detail: 'The canceled subscription ended with its paid period: subscribe again',
    });
    expect(await subscriptions.findOne({ userId: new Types.ObjectId(member.userId) })).toEqual(before);
    expect(await mineOf(member)).toMatchObject({ plan: 'premium', status: 'active', cancelAtPeriodEnd: true });
  });

  it('lets a member whose subscription ended subscribe again', async () => {
    const member = await subscribed();
    await endPeriod(member, 1_000, { cancelAtPeriodEnd: true });
    await sweeper.sweep();
    expect(await statusOf(member)).toBe('canceled');
    const again = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify({ plan: 'platinum', paymentToken: 'tok_visa' }),
    });
    expect(again.status).toBe(201);
    expect(await again.json()).toMatchObject({ plan: 'platinum', status: 'active', cancelAtPeriodEnd: false });
  });
});

describe('payment provider webhooks', () => {
  const SECRET = 'a-webhook-secret-of-at-least-32-characters';
  let running: RunningApp;
  let url: string;
  let sweeper: SubscriptionSweeper;
  let subscriptions: Collection;

  beforeAll(async () => {
    running = await startApp(testConfig({ PAYMENT_WEBHOOK_SECRET: SECRET }));
    url = running.url;
    sweeper = running.app.get(SubscriptionSweeper);
    subscriptions = running.app.get<Connection>(getConnectionToken()).collection('subscriptions');
  });

  afterAll(async () => {
    await running.close();
  });

  const deliver = (event: object, options: { ageS?: number; secret?: string; tamper?: boolean } = {}) => {
    const body = JSON.stringify(event);
    const signature = sign(options.secret ?? SECRET, body, Math.floor(Date.now() / 1000) - (options.ageS ?? 0));
    return fetch(`${url}/v1/subscriptions/webhooks/fake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'vesta-signature': signature },
      body: options.tamper ? body.replace('invoice.paid', 'invoice.payment_failed') : body,
    });
  };
  const subscriptionOf = async (member: Account) =>
    (await (await fetch(`${url}/v1/subscriptions/me`, { headers: member.auth })).json()) as Record<string, string>;
  const premiumMember = async (): Promise<Account> => {
    const member = await registerAccount(url);
    const response = await fetch(`${url}/v1/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
      body: JSON.stringify({ plan: 'premium', paymentToken: 'tok_visa' }),
    });
    expect(response.status).toBe(201);
    await createProfile(url, member);
    return member;
  };

  it('renews a past-due subscription once per event, however often it is delivered', async () => {
    const member = await premiumMember();
    await subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { currentPeriodEnd: new Date(Date.now() - RENEWAL_WAIT_MS - 1_000) } },
    );
    await sweeper.sweep();
    expect((await subscriptionOf(member)).status).toBe('past_due');
    expect((await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth })).status).toBe(403);

    const event = {
      id: `evt_${randomUUID()}`,
      type: 'invoice.paid',
      // In upper case: the same member, whose cached entitlement must still go.
      data: { userId: member.userId.toUpperCase(), chargeId: 'ch_renewal_1' },
    };
    const first = await deliver(event);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ received: true, duplicate: false });
    const renewed = await subscriptionOf(member);
    expect(renewed.status).toBe('active');
    expect(Date.parse(renewed.currentPeriodEnd)).toBeGreaterThan(Date.now() + 29 * 24 * 3600 * 1000);
    // Entitlement evicted by the webhook: premium again in the next request.
    expect((await fetch(`${url}/v1/profiles/me/viewers`, { headers: member.auth })).status).toBe(200);

    const redeliveries = await Promise.all([deliver(event), deliver(event), deliver(event)]);
    expect(redeliveries.map((r) => r.status)).toEqual([200, 200, 200]);
    for (const response of redeliveries) expect(await response.json()).toEqual({ received: true, duplicate: true });
    expect((await subscriptionOf(member)).currentPeriodEnd).toBe(renewed.currentPeriodEnd);
  });

  /** A failed payment counts only once the paid period is over (a late one for a paid period changes nothing). */
  const endPeriod = (member: Account) =>
    subscriptions.updateOne(
      { userId: new Types.ObjectId(member.userId) },
      { $set: { currentPeriodEnd: new Date(Date.now() - 1_000) } },
    );

  it('marks a subscription past due when a renewal payment fails after its period ended', async () => {
    const member = await premiumMember();
    await endPeriod(member);
    const response = await deliver({
      id: `evt_${randomUUID()}`,
      type: 'invoice.payment_failed',
      data: { userId: member.userId },
    });
    expect(response.status).toBe(200);
    expect((await subscriptionOf(member)).status).toBe('past_due');
  });

  it('rejects bad signatures, replays outside the tolerance, tampered bodies and unknown providers, changing nothing', async () => {
    const member = await premiumMember();
    await endPeriod(member);
    const event = { id: `evt_${randomUUID()}`, type: 'invoice.payment_failed', data: { userId: member.userId } };
    for (const options of [{ secret: `${SECRET}-wrong` }, { ageS: 301 }, { ageS: -301 }]) {
      const response = await deliver(event, options);
      expect(response.status, JSON.stringify(options)).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    const paid = { id: `evt_${randomUUID()}`, type: 'invoice.paid', data: { userId: member.userId, chargeId: 'ch_x' } };
    expect((await deliver(paid, { tamper: true })).status).toBe(400);
    const unsigned = await fetch(`${url}/v1/subscriptions/webhooks/fake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(unsigned.status).toBe(400);
    const other = await fetch(`${url}/v1/subscriptions/webhooks/stripe`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'vesta-signature': sign(SECRET, JSON.stringify(event), Math.floor(Date.now() / 1000)),
      },
      body: JSON.stringify(event),
    });
    expect(other.status).toBe(404);
    expect((await subscriptionOf(member)).status).toBe('active');
    // A rejected delivery claimed nothing: the genuine one still applies.
    expect((await deliver(event)).status).toBe(200);
    expect((await subscriptionOf(member)).status).toBe('past_due');
  });
});

describe('admin subscription list', () => {
  const ADMIN = { email: `billing-${Date.now()}@example.test`, password: 'an-admin-password-long-enough' };
  let running: RunningApp;
  let url: string;
  let adminAuth: { authorization: string };

  beforeAll(async () => {
    running = await startApp(testConfig({ ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password }));
    url = running.url;
    adminAuth = { authorization: `Bearer ${await login(url, ADMIN.email, ADMIN.password)}` };
  });

  afterAll(async () => {
    await running.close();
  });

  it('lists subscriptions for admins only, filtered, in cursor pages without duplicates', async () => {
    const members = [];
    for (let i = 0; i < 5; i += 1) {
      const member = await registerAccount(url);
      const response = await fetch(`${url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
        body: JSON.stringify({ plan: i < 3 ? 'platinum' : 'premium', paymentToken: 'tok_visa' }),
      });
      expect(response.status).toBe(201);
      members.push(member);
    }
    expect((await fetch(`${url}/v1/admin/subscriptions`, { headers: members[0].auth })).status).toBe(403);

    const seen: string[] = [];
    let cursor: string | undefined = '';
    while (cursor !== undefined) {
      const response = await fetch(
        `${url}/v1/admin/subscriptions?plan=platinum&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { headers: adminAuth },
      );
      const page = (await response.json()) as { items: { userId: string; plan: string }[]; nextCursor?: string };
      // Left out on the last page, never null.
      expect(page.nextCursor).not.toBeNull();
      expect(page.items.length).toBeLessThanOrEqual(2);
      expect(page.items.every((item) => item.plan === 'platinum')).toBe(true);
      seen.push(...page.items.map((item) => item.userId));
      cursor = page.nextCursor;
    }
    const platinumMembers = members.slice(0, 3).map((m) => m.userId);
    expect(seen.filter((id) => platinumMembers.includes(id)).sort()).toEqual([...platinumMembers].sort());
    expect(new Set(seen).size).toBe(seen.length);

    expect((await fetch(`${url}/v1/admin/subscriptions?status=sleeping`, { headers: adminAuth })).status).toBe(400);
    expect((await fetch(`${url}/v1/admin/subscriptions?cursor=bogus`, { headers: adminAuth })).status).toBe(400);
  });

  it('takes a cursor only for the list and filters it was issued for: 400, not pages from an unrelated id', async () => {
    const members: Account[] = [];
    for (let i = 0; i < 2; i += 1) {
      const member = await registerAccount(url);
      const response = await fetch(`${url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), ...member.auth },
        body: JSON.stringify({ plan: 'platinum', paymentToken: 'tok_visa' }),
      });
      expect(response.status).toBe(201);
      members.push(member);
    }
    const admin = (query: string) => fetch(`${url}/v1/admin/subscriptions?${query}`, { headers: adminAuth });
    const platinum = (await (await admin('plan=platinum&limit=1')).json()) as { nextCursor?: string };
    expect(platinum.nextCursor).toBeDefined();
    expect((await admin(`plan=premium&limit=1&cursor=${platinum.nextCursor}`)).status).toBe(400);

    const city = uniqueCity();
    for (const member of members) {
      await createProfile(url, member, { location: { city, country: 'DE', lat: 50, lng: 10 } });
    }
    const inCity = `${url}/v1/profiles?city=${encodeURIComponent(city)}&limit=1`;
    const search = (await (await fetch(inCity)).json()) as { nextCursor?: string };
    expect(search.nextCursor).toBeDefined();
    // Each list's cursor given to the other (until 2026-12-06 either paged on from its id).
    expect((await admin(`limit=1&cursor=${search.nextCursor}`)).status).toBe(400);
    expect((await fetch(`${inCity}&cursor=${platinum.nextCursor}`)).status).toBe(400);
  });
});
