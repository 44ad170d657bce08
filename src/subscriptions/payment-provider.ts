import { LRUCache } from 'lru-cache';
import { randomUUID } from 'node:crypto';

export interface Charge {
  id: string;
  amountMinor: number;
  currency: string;
}

export class PaymentDeclinedError extends Error {
  constructor(reason: string) {
    super(`Payment declined: ${reason}`);
  }
}

/** The idempotency key was first used for another amount or currency: processors refuse it rather than guess. */
export class PaymentKeyReusedError extends Error {
  constructor() {
    super('This idempotency key was already used for a payment of another amount');
  }
}

/**
 * The seam to a card processor. Amounts come from the plan catalogue; `idempotencyKey` lets the
 * provider itself refuse to charge twice for one request (real processors take such a key). Callers wait for each call
 * at most PAYMENT_TIMEOUT_MS (BoundedPaymentProvider); implementations should still time out their HTTP client's calls,
 * or a call given up on keeps its socket.
 */
export interface PaymentProvider {
  readonly name: string;
  /** @throws PaymentDeclinedError, PaymentKeyReusedError */
  charge(request: {
    paymentToken: string;
    amountMinor: number;
    currency: string;
    idempotencyKey: string;
  }): Promise<Charge>;
  /**
   * Must resolve for a charge already refunded: a webhook whose refund's answer was lost is delivered again and
   * refunds again (real processors take an idempotency key, `refund:<chargeId>`, or answer "already refunded").
   */
  refund(chargeId: string): Promise<void>;
}

export const PAYMENT_PROVIDER = Symbol('PAYMENT_PROVIDER');

/**
 * How many idempotency keys, and refunded charges, the fake provider remembers, each for at most a day (Stripe keeps
 * keys at least 24 h). It runs in every deployment: kept for good, each charge and refund any member made stayed in
 * the process's memory until it restarted.
 */
const FAKE_PROVIDER_KEPT = 50_000;
const FAKE_PROVIDER_KEPT_MS = 24 * 3600 * 1000;

/**
 * Development and test provider. Deterministic by card token: `tok_decline…` is declined,
 * anything else starting with `tok_` succeeds; charges with one idempotency key are made once, and the key is
 * refused for another amount or currency.
 */
export class FakePaymentProvider implements PaymentProvider {
  readonly name = 'fake';
  readonly charges = new LRUCache<string, Charge>({ max: FAKE_PROVIDER_KEPT, ttl: FAKE_PROVIDER_KEPT_MS });
  readonly refunds = new LRUCache<string, true>({ max: FAKE_PROVIDER_KEPT, ttl: FAKE_PROVIDER_KEPT_MS });

  charge({
    paymentToken,
    amountMinor,
    currency,
    idempotencyKey,
  }: Parameters<PaymentProvider['charge']>[0]): Promise<Charge> {
    if (!paymentToken.startsWith('tok_') || paymentToken.startsWith('tok_decline')) {
      return Promise.reject(new PaymentDeclinedError('card declined'));
    }
    const existing = this.charges.get(idempotencyKey);
    if (existing && (existing.amountMinor !== amountMinor || existing.currency !== currency)) {
      return Promise.reject(new PaymentKeyReusedError());
    }
    if (existing) return Promise.resolve(existing);
    const charge = { id: `ch_${randomUUID()}`, amountMinor, currency };
    this.charges.set(idempotencyKey, charge);
    return Promise.resolve(charge);
  }

  refund(chargeId: string): Promise<void> {
    this.refunds.set(chargeId, true);
    return Promise.resolve();
  }
}
