import { describe, expect, it } from 'vitest';
import { BoundedPaymentProvider, PaymentProviderTimeoutException } from './bounded-payment-provider.js';
import { FakePaymentProvider, PaymentDeclinedError, type PaymentProvider } from './payment-provider.js';

const request = { paymentToken: 'tok_visa', amountMinor: 999, currency: 'EUR', idempotencyKey: 'k' };

/** A processor that never answers. */
const silent: PaymentProvider = {
  name: 'silent',
  charge: () => new Promise(() => undefined),
  refund: () => new Promise(() => undefined),
};

describe('BoundedPaymentProvider', () => {
  it('gives up on a charge or a refund the processor does not answer, with a 503 naming the wait', async () => {
    const bounded = new BoundedPaymentProvider(silent, 30);
    await expect(bounded.charge(request)).rejects.toThrow(PaymentProviderTimeoutException);
    await expect(bounded.charge(request)).rejects.toThrow(/did not answer within 30 ms; retry with the same/);
    await expect(bounded.refund('ch_1')).rejects.toThrow(PaymentProviderTimeoutException);
  });

  it('passes on the processor’s answers and refusals unchanged, under its name', async () => {
    const bounded = new BoundedPaymentProvider(new FakePaymentProvider(), 1_000);
    expect(bounded.name).toBe('fake');
    expect(await bounded.charge(request)).toMatchObject({ amountMinor: 999, currency: 'EUR' });
    await expect(bounded.charge({ ...request, paymentToken: 'tok_decline' })).rejects.toThrow(PaymentDeclinedError);
    await expect(bounded.refund('ch_1')).resolves.toBeUndefined();
  });
});
