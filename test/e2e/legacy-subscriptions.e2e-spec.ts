import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Collection, type Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProfileCacheWarmer } from '../../src/profiles/cache-warming/profile-cache.warmer.js';
import { FakePaymentProvider } from '../../src/subscriptions/payment-provider.js';
import { RENEWAL_WAIT_MS } from '../../src/subscriptions/plans.js';
import { SubscriptionSweeper } from '../../src/subscriptions/subscription-sweeper.js';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { subscriptionDocument } from '../factories/subscriptions.js';
import { documentedCalls, type AnsweringCall, type JsonReply } from '../support/json-call.js';
import type { OpenApiConformance } from '../support/openapi-conformance.js';
import { startAppWithAdmin, type RunningApp } from '../support/test-app.js';

const SECRET = 'a-webhook-secret-of-at-least-32-characters';
const DAY_MS = 24 * 3600 * 1000;
const key = () => ({ 'idempotency-key': randomUUID() });

/**
 * Subscriptions as earlier versions stored them (fields added since, each with a default, missing) or as a hand edit
 * or an old backup left them, inserted with the driver past mongoose. A field with a default reads as that default
 * everywhere: member routes, the admin list, renewals, failed payments and the sweep. A record that cannot be read
 * (a period date missing or not a date, a plan or status this version does not know) is reported as needing support:
 * a 409 problem to its member, a 503 to the provider (which delivers again once it is repaired), listed apart in the
 * admin list, skipped by the sweep, and never written to. Until 2026-12-07 a missing cancelAtPeriodEnd refused both
 * cancel and resume, was never renewed (its renewal charge refunded) nor swept, chargeIds: null answered 500 to
 * upgrades and renewals, and one damaged record made the whole admin list answer 500.
 */
describe('subscriptions written by earlier versions, by hand or restored from old backups', () => {
  let running: RunningApp;
  let url: string;
  let call: (...args: AnsweringCall) => Promise<JsonReply>;
  let conformance: OpenApiConformance;
  let admin: Account;
  let subscriptions: Collection;
  let payments: FakePaymentProvider;
  let sweeper: SubscriptionSweeper;

  beforeAll(async () => {
    ({ running, admin } = await startAppWithAdmin('legacy-subscriptions', { PAYMENT_WEBHOOK_SECRET: SECRET }));
    url = running.url;
    ({ call, conformance } = await documentedCalls(url));
    subscriptions = running.app.get<Connection>(getConnectionToken()).collection('subscriptions');
    payments = running.app.get(FakePaymentProvider);
    sweeper = running.app.get(SubscriptionSweeper);
  });

  // Every answer is held to the OpenAPI document (documentedCalls).
  afterEach(() => {
    expect(conformance.take()).toEqual([]);
  });

  afterAll(async () => {
    await running.close();
  });

  /** A payment provider event, signed now. */
  const deliver = (event: object) => {
    const body = JSON.stringify(event);
    const signature = sign(SECRET, body, Math.floor(Date.now() / 1000));
    return fetch(`${url}/v1/subscriptions/webhooks/fake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'vesta-signature': signature },
      body,
    });
  };

  /** A subscription document (subscriptionDocument) inserted past mongoose; its id. */
  const insertSubscription = async (
    member: Account,
    changes?: Record<string, unknown>,
    endsInMs?: number,
  ): Promise<Types.ObjectId> => {
    const document = subscriptionDocument(member, changes, endsInMs);
    await subscriptions.insertOne(document);
    return document._id;
  };
  const stored = (id: Types.ObjectId) => subscriptions.findOne({ _id: id });
  const adminList = async () => {
    const page = await call('GET', '/v1/admin/subscriptions?limit=100', admin);
    expect(page.status).toBe(200);
    return page.body as { items: { userId: string }[]; damaged?: { id: string; userId: string; problems: string[] }[] };
  };
  const paid = (member: Account, chargeId: string) => ({
    id: `evt_${randomUUID()}`,
    type: 'invoice.paid',
    data: { userId: member.userId, chargeId },
  });

  /** Each field added since the first version, missing; and chargeIds as a hand edit left it. */
  const LEGACY_SHAPES: Record<string, Record<string, unknown>> = {
    'no cancelAtPeriodEnd': { cancelAtPeriodEnd: undefined },
    'no pendingPlan nor previousPlan': { pendingPlan: undefined, previousPlan: undefined },
    'no chargeIds nor recentPaymentKeys': { chargeIds: undefined, recentPaymentKeys: undefined },
    'chargeIds: null': { chargeIds: null },
    'none of them': {
      cancelAtPeriodEnd: undefined,
      pendingPlan: undefined,
      previousPlan: undefined,
      chargeIds: undefined,
      recentPaymentKeys: undefined,
      refundedChargeIds: undefined,
    },
  };

  it('serves, cancels, resumes and changes the plan of each legacy shape as if its defaults were stored', async () => {
    for (const [shape, changes] of Object.entries(LEGACY_SHAPES)) {
      const member = await registerAccount(url);
      await insertSubscription(member, { plan: 'platinum', ...changes });
      const mine = await call('GET', '/v1/subscriptions/me', member);
      expect(mine.body, shape).toMatchObject({ plan: 'platinum', status: 'active', cancelAtPeriodEnd: false });
      expect(mine.body, shape).not.toHaveProperty('pendingPlan');
      expect(mine.body, shape).not.toHaveProperty('previousPlan');
      expect((await call('GET', '/v1/profiles/advanced', member)).status, shape).toBe(200);
      // Not canceled: nothing to resume.
      expect((await call('POST', '/v1/subscriptions/me/resume', member)).status, shape).toBe(409);
      const canceled = await call('POST', '/v1/subscriptions/me/cancel', member);
      expect([canceled.status, canceled.body.cancelAtPeriodEnd], shape).toEqual([200, true]);
      const resumed = await call('POST', '/v1/subscriptions/me/resume', member);
      expect([resumed.status, resumed.body.cancelAtPeriodEnd], shape).toEqual([200, false]);
      const downgraded = await call('POST', '/v1/subscriptions/me/plan', member, { plan: 'premium' }, key());
      expect([downgraded.status, downgraded.body.pendingPlan], shape).toEqual([200, 'premium']);
      const kept = await call('POST', '/v1/subscriptions/me/plan', member, { plan: 'platinum' }, key());
      expect(kept.status, shape).toBe(200);
      expect(kept.body, shape).not.toHaveProperty('pendingPlan');
    }
  });

  it('upgrades each legacy shape, recording the charge', async () => {
    for (const [shape, changes] of Object.entries(LEGACY_SHAPES)) {
      const member = await registerAccount(url);
      const id = await insertSubscription(member, changes);
      const upgrade = { plan: 'platinum', paymentToken: 'tok_visa' };
      const upgraded = await call('POST', '/v1/subscriptions/me/plan', member, upgrade, key());
      expect([upgraded.status, upgraded.body.plan], shape).toEqual([200, 'platinum']);
      const after = await stored(id);
      expect(after?.chargeIds, shape).toEqual([after?.lastChargeId]);
    }
  });

  it('renews each legacy shape on the provider’s invoice.paid, and refunds nothing', async () => {
    for (const [shape, changes] of Object.entries(LEGACY_SHAPES)) {
      const member = await registerAccount(url);
      const id = await insertSubscription(member, changes, 3_600_000);
      const chargeId = `ch_${randomUUID()}`;
      const delivered = await deliver(paid(member, chargeId));
      expect(delivered.status, shape).toBe(200);
      const after = await stored(id);
      expect((after?.currentPeriodEnd as Date).getTime(), shape).toBeGreaterThan(Date.now() + 29 * DAY_MS);
      expect(after?.chargeIds, shape).toContain(chargeId);
      expect(payments.refunds.has(chargeId), shape).toBe(false);
    }
  });

  it('marks a legacy subscription past due on a failed payment, reported or left unconfirmed', async () => {
    const reported = await registerAccount(url);
    const reportedId = await insertSubscription(reported, LEGACY_SHAPES['none of them'], -1_000);
    const failed = { id: `evt_${randomUUID()}`, type: 'invoice.payment_failed', data: { userId: reported.userId } };
    expect((await deliver(failed)).status).toBe(200);
    expect((await stored(reportedId))?.status).toBe('past_due');

    const unreported = await registerAccount(url);
    const unreportedId = await insertSubscription(unreported, LEGACY_SHAPES['none of them'], -RENEWAL_WAIT_MS - 1_000);
    const canceled = await registerAccount(url);
    const canceledId = await insertSubscription(canceled, LEGACY_SHAPES['none of them'], DAY_MS);
    expect((await call('POST', '/v1/subscriptions/me/cancel', canceled)).status).toBe(200);
    await subscriptions.updateOne({ _id: canceledId }, { $set: { currentPeriodEnd: new Date(Date.now() - 1_000) } });
    await sweeper.sweep();
    expect((await stored(unreportedId))?.status).toBe('past_due');
    expect((await stored(canceledId))?.status).toBe('canceled');
    expect((await call('GET', '/v1/subscriptions/me', unreported)).body.status).toBe('past_due');
  });

  it('lists legacy subscriptions among the others in the admin list, with their defaults', async () => {
    const members = new Map<string, string>();
    for (const [shape, changes] of Object.entries(LEGACY_SHAPES)) {
      const member = await registerAccount(url);
      await insertSubscription(member, changes);
      members.set(member.userId, shape);
    }
    const page = await adminList();
    const listed = page.items.filter((item) => members.has(item.userId));
    expect(listed).toHaveLength(members.size);
    for (const item of listed) {
      expect(item, members.get(item.userId)).toMatchObject({ plan: 'premium', cancelAtPeriodEnd: false });
    }
  });

  /** Damage no version wrote: a hand edit, or a bad restore. */
  const DAMAGED_SHAPES: Record<string, { changes: Record<string, unknown>; problem: RegExp }> = {
    'no currentPeriodStart': { changes: { currentPeriodStart: undefined }, problem: /currentPeriodStart/ },
    'no currentPeriodEnd': { changes: { currentPeriodEnd: undefined }, problem: /currentPeriodEnd/ },
    'currentPeriodEnd as a string': {
      changes: { currentPeriodEnd: new Date(Date.now() + DAY_MS).toISOString() },
      problem: /currentPeriodEnd/,
    },
    'an unknown plan': { changes: { plan: 'gold' }, problem: /plan/ },
    'an unknown status': { changes: { status: 'trialing' }, problem: /status/ },
  };

  it('answers the member of a damaged subscription 409, sending them to support, and changes nothing', async () => {
    for (const [shape, { changes }] of Object.entries(DAMAGED_SHAPES)) {
      const member = await registerAccount(url);
      const id = await insertSubscription(member, changes);
      const before = await stored(id);
      const requests: [string, string, unknown?][] = [
        ['GET', '/v1/subscriptions/me'],
        ['GET', '/v1/profiles/advanced'],
        ['POST', '/v1/subscriptions/me/cancel'],
        ['POST', '/v1/subscriptions/me/resume'],
        ['POST', '/v1/subscriptions/me/plan', { plan: 'platinum', paymentToken: 'tok_visa' }],
        ['POST', '/v1/subscriptions/me/plan', { plan: 'premium' }],
        ['POST', '/v1/subscriptions', { plan: 'premium', paymentToken: 'tok_visa' }],
      ];
      for (const [method, path, body] of requests) {
        const reply = await call(method, path, member, body, key());
        expect(reply.status, `${shape}: ${method} ${path}`).toBe(409);
        expect(reply.body.detail, `${shape}: ${method} ${path}`).toMatch(/support/);
        expect(reply.body.detail).toContain(String(id));
      }
      expect(await stored(id), shape).toEqual(before);
    }
  });

  it('answers the provider’s events for a damaged subscription 503 (delivered again), refunding nothing', async () => {
    for (const [shape, { changes }] of Object.entries(DAMAGED_SHAPES)) {
      const member = await registerAccount(url);
      const id = await insertSubscription(member, changes, -1_000);
      const before = await stored(id);
      const chargeId = `ch_${randomUUID()}`;
      expect((await deliver(paid(member, chargeId))).status, shape).toBe(503);
      const failed = { id: `evt_${randomUUID()}`, type: 'invoice.payment_failed', data: { userId: member.userId } };
      expect((await deliver(failed)).status, shape).toBe(503);
      expect(payments.refunds.has(chargeId), shape).toBe(false);
      expect(await stored(id), shape).toEqual(before);
    }
  });

  it('lists the damaged subscriptions apart in the admin list, and the others as ever', async () => {
    const healthy = await registerAccount(url);
    await insertSubscription(healthy);
    const damaged = new Map<string, { shape: string; problem: RegExp }>();
    for (const [shape, { changes, problem }] of Object.entries(DAMAGED_SHAPES)) {
      const member = await registerAccount(url);
      damaged.set(String(await insertSubscription(member, changes)), { shape, problem });
    }
    const page = await adminList();
    expect(page.items.map((item) => item.userId)).toContain(healthy.userId);
    const listed = (page.damaged ?? []).filter((entry) => damaged.has(entry.id));
    expect(listed).toHaveLength(damaged.size);
    for (const entry of listed) {
      const { shape, problem } = damaged.get(entry.id)!;
      expect(entry.problems.join('; '), shape).toMatch(problem);
      expect(entry.userId, shape).toMatch(/^[0-9a-f]{24}$/);
    }
    // Filtered lists and their pages answer too.
    expect((await call('GET', '/v1/admin/subscriptions?status=active&limit=1', admin)).status).toBe(200);
  });

  it('lists once, across its pages, every subscription an import stored with its id as text', async () => {
    // Sorted after every ObjectId and below no cursor, they were listed only by a first page reaching that far (as
    // healthy items), and one ending a page answered 500 (toHexString of a string).
    const byTextId = running.app.get<Connection>(getConnectionToken()).db!.collection<{ _id: string }>('subscriptions');
    const textIds = [`imported-${randomUUID()}`, `imported-${randomUUID()}`];
    for (const id of textIds)
      await byTextId.insertOne({ ...subscriptionDocument(await registerAccount(url)), _id: id });
    try {
      for (let i = 0; i < 2; i += 1) await insertSubscription(await registerAccount(url));
      const total = await subscriptions.countDocuments({});
      // The worker's database holds other tests' subscriptions too: `total` may be past the largest page (100).
      for (const limit of new Set([1, 2, Math.min(total - 1, 100), Math.min(total, 100)])) {
        const seen: string[] = [];
        let cursor = '';
        for (let pages = 0; pages <= total; pages += 1) {
          const page = await call('GET', `/v1/admin/subscriptions?limit=${limit}${cursor}`, admin);
          expect(page.status, `limit ${limit}`).toBe(200);
          const body = page.body as { items: object[]; damaged?: { id: string }[]; nextCursor?: string };
          seen.push(...(body.damaged ?? []).map((entry) => entry.id), ...body.items.map(() => 'item'));
          if (!body.nextCursor) break;
          cursor = `&cursor=${body.nextCursor}`;
        }
        for (const id of textIds)
          expect(
            seen.filter((one) => one === id),
            `limit ${limit}`,
          ).toHaveLength(1);
        expect(seen, `limit ${limit}`).toHaveLength(total);
      }
    } finally {
      await byTextId.deleteMany({ _id: { $in: textIds } });
    }
  });

  it('sweeps the other subscriptions when damaged ones have ended, leaving those as they are', async () => {
    const before = new Map<string, unknown>();
    for (const { changes } of Object.values(DAMAGED_SHAPES)) {
      const id = await insertSubscription(await registerAccount(url), changes, -RENEWAL_WAIT_MS - DAY_MS);
      before.set(String(id), await stored(id));
    }
    const ended = await insertSubscription(await registerAccount(url), {}, -RENEWAL_WAIT_MS - 1_000);
    await sweeper.sweep();
    expect((await stored(ended))?.status).toBe('past_due');
    for (const [id, document] of before) expect(await stored(new Types.ObjectId(id))).toEqual(document);
  });

  it('sweeps the others when a whole batch of ended subscriptions is damaged (an unknown plan)', async () => {
    // 500 is the sweep's batch: every batch held only these, and no member was moved by that rule again.
    const imported = Array.from({ length: 501 }, () =>
      subscriptionDocument(
        { userId: new Types.ObjectId().toHexString() } as Account,
        { plan: 'gold' },
        -RENEWAL_WAIT_MS - DAY_MS,
      ),
    );
    await subscriptions.insertMany(imported);
    const ids = imported.map((one) => one._id);
    try {
      const ended = await insertSubscription(await registerAccount(url), {}, -RENEWAL_WAIT_MS - 1_000);
      await sweeper.sweep();
      expect((await stored(ended))?.status).toBe('past_due');
      // Left as they were, for support.
      expect(await subscriptions.countDocuments({ _id: { $in: ids }, status: 'active' })).toBe(imported.length);
    } finally {
      await subscriptions.deleteMany({ _id: { $in: ids } });
    }
  });

  it('warms the cached plans of the other members when a live subscription is damaged', async () => {
    const damaged = await registerAccount(url);
    await insertSubscription(damaged, DAMAGED_SHAPES['currentPeriodEnd as a string'].changes);
    const member = await registerAccount(url);
    await insertSubscription(member);
    // Until now the damaged member's load failed, and with it every run.
    const warmed = await running.app.get(ProfileCacheWarmer).warm();
    expect(warmed.entries).toBeGreaterThanOrEqual(4);
  });

  it('warms the plans of the other members when a live subscription names no member by an ObjectId', async () => {
    // A hand edit or an import without types: the member's id missing, or stored as text that is no id, or a number.
    // Read as the text "undefined", "imported-member" or "42", it failed the run at its status load (BSONError, not
    // a damaged subscription), and so every run.
    const damaged: Types.ObjectId[] = [];
    for (const userId of [undefined, 'imported-member', 42])
      damaged.push(await insertSubscription(await registerAccount(url), { userId }));
    try {
      await insertSubscription(await registerAccount(url));
      await expect(running.app.get(ProfileCacheWarmer).warm()).resolves.toBeDefined();
    } finally {
      await subscriptions.deleteMany({ _id: { $in: damaged } });
    }
  });
});
