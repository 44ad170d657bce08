import { describe, expect, it } from 'vitest';
import { FakePaymentProvider, PaymentDeclinedError, PaymentKeyReusedError } from './payment-provider.js';

describe('FakePaymentProvider', () => {
  const request = { paymentToken: 'tok_visa', amountMinor: 999, currency: 'EUR', idempotencyKey: 'member:key-1' };

  it('charges once per idempotency key and answers a retry with the first charge', async () => {
    const provider = new FakePaymentProvider();
    const first = await provider.charge(request);
    expect(await provider.charge(request)).toEqual(first);
    expect(provider.charges.size).toBe(1);
  });

  it('refuses a key reused for another amount or currency, as real processors do', async () => {
    const provider = new FakePaymentProvider();
    await provider.charge(request);
    await expect(provider.charge({ ...request, amountMinor: 1999 })).rejects.toBeInstanceOf(PaymentKeyReusedError);
    await expect(provider.charge({ ...request, currency: 'USD' })).rejects.toBeInstanceOf(PaymentKeyReusedError);
    expect(provider.charges.size).toBe(1);
  });

  it('declines tokens it does not know', async () => {
    const provider = new FakePaymentProvider();
    await expect(provider.charge({ ...request, paymentToken: 'tok_decline' })).rejects.toBeInstanceOf(
      PaymentDeclinedError,
    );
  });

  it('remembers a bounded number of keys and refunds, however many members charge and refund', async () => {
    const provider = new FakePaymentProvider();
    for (let i = 0; i < 100_000; i += 1) {
      const charge = await provider.charge({ ...request, idempotencyKey: `member-${i}:subscribe:premium:key-${i}` });
      await provider.refund(charge.id);
    }
    expect(provider.charges.size).toBeLessThanOrEqual(50_000);
    expect(provider.refunds.size).toBeLessThanOrEqual(50_000);
  });
});
