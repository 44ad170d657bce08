import { getConnectionToken } from '@nestjs/mongoose';
import { Types, type Collection, type Connection } from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAccount } from '../factories/accounts.js';
import { subscriptionDocument } from '../factories/subscriptions.js';
import { callJson } from '../support/json-call.js';
import { startAppWithAdmin, type RunningApp } from '../support/test-app.js';

/**
 * FerretDB reads a document, then writes it whole, without a lock (mongodb-here.md): a write made outside the member's
 * subscription-change lock can put back the state a locked change just replaced. Reads of a subscription (the member's
 * own, premium checks, cache warming) take no lock, so they must not write.
 */
describe('reading a subscription stored with null arrays beside a change', () => {
  let running: RunningApp;
  let subscriptions: Collection;

  beforeAll(async () => {
    ({ running } = await startAppWithAdmin('subscription-read-race'));
    subscriptions = running.app.get<Connection>(getConnectionToken()).collection('subscriptions');
  });

  afterAll(async () => {
    await running.close();
  });

  it('keeps a cancellation that was answered 200 while the member’s reads came in', async () => {
    const lost: string[] = [];
    const member = await registerAccount(running.url);
    for (let round = 0; round < 40; round += 1) {
      await subscriptions.deleteMany({ userId: new Types.ObjectId(member.userId) });
      const nullArrays = { chargeIds: null, recentPaymentKeys: null, refundedChargeIds: null };
      await subscriptions.insertOne(subscriptionDocument(member, nullArrays));
      const reads = Array.from({ length: 30 }, () => callJson(running.url, 'GET', '/v1/subscriptions/me', member));
      const cancel = callJson(running.url, 'POST', '/v1/subscriptions/me/cancel', member);
      const [canceled] = await Promise.all([cancel, ...reads]);
      expect(canceled.status).toBe(200);
      const stored = await subscriptions.findOne({ userId: new Types.ObjectId(member.userId) });
      if (stored?.cancelAtPeriodEnd !== true) lost.push(`round ${round}: ${JSON.stringify(stored)}`);
    }
    expect(lost).toEqual([]);
  });
});
