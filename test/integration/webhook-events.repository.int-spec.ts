import mongoose from 'mongoose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEBHOOK_CLAIM_LEASE_MS, WebhookEventsRepository } from '../../src/subscriptions/webhook-events.repository.js';
import { WebhookEvent, WebhookEventSchema } from '../../src/subscriptions/webhook-event.schema.js';
import { workerMongoUri } from '../support/test-env.js';

describe('WebhookEventsRepository (real FerretDB)', () => {
  let connection: mongoose.Connection;
  let claims: WebhookEventsRepository;

  beforeAll(async () => {
    connection = await mongoose.createConnection(workerMongoUri(`_claims_${Date.now()}`)).asPromise();
    claims = new WebhookEventsRepository(connection.model(WebhookEvent.name, WebhookEventSchema));
  });

  afterAll(async () => {
    await connection?.dropDatabase();
    await connection?.close();
  });

  const later = (ms: number) => new Date(Date.now() + ms);

  it('lets one delivery hold an event until its lease runs out, then the next takes it over', async () => {
    const first = await claims.claim('fake:evt_lease', 'invoice.paid');
    expect(first.outcome).toBe('claimed');
    expect((await claims.claim('fake:evt_lease', 'invoice.paid')).outcome).toBe('in-progress');

    const second = await claims.claim('fake:evt_lease', 'invoice.paid', later(WEBHOOK_CLAIM_LEASE_MS + 1));
    expect(second.outcome).toBe('claimed');
    // The first delivery, back after its lease, cannot give away a claim that is no longer its own.
    if (first.outcome === 'claimed') await claims.release('fake:evt_lease', first.owner);
    expect((await claims.claim('fake:evt_lease', 'invoice.paid')).outcome).toBe('in-progress');
  });

  it('records an event as applied even when its claim was released meanwhile by a delivery that took it over', async () => {
    const first = await claims.claim('fake:evt_released', 'invoice.paid');
    const second = await claims.claim('fake:evt_released', 'invoice.paid', later(WEBHOOK_CLAIM_LEASE_MS + 1));
    expect([first.outcome, second.outcome]).toEqual(['claimed', 'claimed']);
    // The second delivery fails and releases; the first, slow but alive, then applies the event.
    if (second.outcome === 'claimed') await claims.release('fake:evt_released', second.owner);
    await claims.markApplied('fake:evt_released', 'invoice.paid');

    expect(await claims.isApplied('fake:evt_released')).toBe(true);
    expect(await claims.claim('fake:evt_released', 'invoice.paid')).toEqual({ outcome: 'applied' });
  });
});
