import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePaymentProvider } from '../../src/subscriptions/payment-provider.js';
import { SubscriptionsRepository } from '../../src/subscriptions/subscriptions.repository.js';
import { sign } from '../../src/subscriptions/webhook-signature.js';
import { registerAccount, type Account } from '../factories/accounts.js';
import { FerretDbProcess } from '../support/ferretdb-process.js';
import { RedisProcess } from '../support/redis-process.js';
import { startApp, type RunningApp } from '../support/test-app.js';
import { testConfig } from '../support/test-env.js';

const SECRET = 'a-webhook-secret-of-at-least-32-characters';

/** Payment webhooks while MongoDB or Redis fails: 503 with Retry-After, and the redelivery applies the event once. */
describe('payment webhooks during dependency outages', () => {
  let ferret: FerretDbProcess;
  let redis: RedisProcess;
  let running: RunningApp;
  let payments: FakePaymentProvider;

  beforeAll(async () => {
    [ferret, redis] = await Promise.all([FerretDbProcess.start(), RedisProcess.start()]);
    running = await startApp(
      testConfig({
        MONGODB_URI: ferret.uri,
        REDIS_URL: redis.url,
        MONGODB_SERVER_SELECTION_TIMEOUT_MS: '1000',
        HANDLER_TIMEOUT_MS: '3000',
        PAYMENT_WEBHOOK_SECRET: SECRET,
      }),
    );
    payments = running.app.get(FakePaymentProvider);
  });

  afterAll(async () => {
    ferret?.thaw();
    redis?.thaw();
    await running?.close();
    await ferret?.dispose();
    await redis?.stop();
  });

  const deliver = async (event: object) => {
    const body = JSON.stringify(event);
    const response = await fetch(`${running.url}/v1/subscriptions/webhooks/fake`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'vesta-signature': sign(SECRET, body, Math.floor(Date.now() / 1000)),
      },
      body,
      signal: AbortSignal.timeout(15_000),
    });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      retryAfter: response.headers.get('retry-after'),
      body: (await response.json()) as Record<string, unknown>,
    };
  };
  const refundEvent = (member: Account) => ({
    id: `evt_${randomUUID()}`,
    type: 'invoice.paid',
    data: { userId: member.userId, chargeId: `ch_${randomUUID()}` },
  });
  const claimOf = (eventId: string) =>
    running.app
      .get<Connection>(getConnectionToken())
      .collection<{ _id: string; state?: string }>('webhook_events')
      .findOne({ _id: `fake:${eventId}` });

  it('answers 503 while Redis is down without naming its internals, and applies the redelivery once', async () => {
    const member = await registerAccount(running.url);
    const event = refundEvent(member);
    await redis.stop();
    try {
      const refused = await deliver(event);
      expect(refused).toMatchObject({ status: 503, retryAfter: '5' });
      expect(refused.type).toMatch(/^application\/problem\+json/);
      // The member's id, the lock's key and ioredis's message are for the log, not for whoever called.
      expect(String(refused.body.detail)).not.toMatch(/subscription-change|offline ?queue|stream/i);
      expect(String(refused.body.detail)).not.toContain(member.userId);
      expect(await claimOf(event.id)).toBeNull();
    } finally {
      await redis.start();
    }
    await expect.poll(async () => (await deliver(event)).status, { timeout: 10_000, interval: 500 }).toBe(200);
    expect(await deliver(event)).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(payments.refunds.has(event.data.chargeId)).toBe(true);
  });

  it('leaves the claim of an event applied just before MongoDB failed to its lease, and applies it once after', async () => {
    const member = await registerAccount(running.url);
    const event = refundEvent(member);
    const refund = payments.refund.bind(payments);
    // The outage comes after the refund and before the event is marked applied (and before its claim's release). Now
    // and then the driver's write then fails with Node's own EPIPE, which was a 500 (see isDatabaseUnavailable).
    payments.refund = async (chargeId: string) => {
      await refund(chargeId);
      await ferret.kill();
    };
    try {
      const failed = await deliver(event);
      expect(failed).toMatchObject({ status: 503, retryAfter: '5' });
      expect(failed.type).toMatch(/^application\/problem\+json/);
    } finally {
      payments.refund = refund;
      await ferret.start();
    }
    await expect.poll(async () => (await claimOf(event.id))?.state, { timeout: 10_000, interval: 500 }).toBe('claimed');
    expect((await deliver(event)).status).toBe(503); // still held within its lease
    const claims = running.app.get<Connection>(getConnectionToken()).collection<{ _id: string }>('webhook_events');
    // What the clock does after 60 s.
    await claims.updateOne({ _id: `fake:${event.id}` }, { $set: { leaseUntil: new Date(Date.now() - 1_000) } });
    expect(await deliver(event)).toMatchObject({ status: 200, body: { duplicate: false } });
    expect(await deliver(event)).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(payments.refunds.has(event.data.chargeId)).toBe(true);
  });

  it('answers 503, not 500, when Redis stops answering after the lock was taken, and applies the redelivery once', async () => {
    const member = await registerAccount(running.url);
    const event = refundEvent(member);
    const subscriptions = running.app.get(SubscriptionsRepository);
    const findForChange = subscriptions.findForChange.bind(subscriptions);
    // Redis answered the lock's SET, then stops answering: the event's next Redis command (remembering the refund) fails.
    subscriptions.findForChange = async (userId: string) => {
      const found = await findForChange(userId);
      await redis.freeze();
      return found;
    };
    try {
      const failed = await deliver(event);
      expect(failed).toMatchObject({ status: 503, retryAfter: '5' });
      expect(failed.type).toMatch(/^application\/problem\+json/);
      expect(payments.refunds.has(event.data.chargeId)).toBe(false);
    } finally {
      subscriptions.findForChange = findForChange;
      redis.thaw();
    }
    await expect.poll(async () => (await deliver(event)).status, { timeout: 10_000, interval: 500 }).toBe(200);
    expect(await deliver(event)).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(payments.refunds.has(event.data.chargeId)).toBe(true);
  });
});
