import { ServiceUnavailableException } from '@nestjs/common';
import { TimeoutError, withTimeout } from '../common/with-timeout.js';
import type { Charge, PaymentProvider } from './payment-provider.js';

/** The processor did not answer in time: a charge may or may not have been made. */
export class PaymentProviderTimeoutException extends ServiceUnavailableException {}

/**
 * The configured processor with every call bounded. Callers hold the member's subscription-change lock while they
 * wait, and renew it while they do: a call that never returned would keep that member's subscription locked until the
 * process ended. Given up on, a charge may still be made; the request's retry sends the same idempotency key, which the
 * processor charges at most once, and applies that charge. A refund given up on is made again by its caller's retry (a
 * webhook's redelivery, the sweep's next run), processors' refunds being idempotent.
 */
export class BoundedPaymentProvider implements PaymentProvider {
  readonly name: string;

  constructor(
    private readonly processor: PaymentProvider,
    private readonly timeoutMs: number,
  ) {
    this.name = processor.name;
  }

  charge(request: Parameters<PaymentProvider['charge']>[0]): Promise<Charge> {
    return this.bounded(this.processor.charge(request), 'retry with the same Idempotency-Key: it is charged once');
  }

  refund(chargeId: string): Promise<void> {
    return this.bounded(this.processor.refund(chargeId), 'retry: a refund is made once');
  }

  private async bounded<T>(call: Promise<T>, advice: string): Promise<T> {
    try {
      return await withTimeout(call, this.timeoutMs);
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      throw new PaymentProviderTimeoutException(
        `The payment processor did not answer within ${this.timeoutMs} ms; ${advice}`,
        { cause: error },
      );
    }
  }
}
