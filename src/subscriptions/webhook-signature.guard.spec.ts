import {
  BadRequestException,
  NotFoundException,
  ServiceUnavailableException,
  type ExecutionContext,
} from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import type { PaymentProvider } from './payment-provider.js';
import { sign } from './webhook-signature.js';
import { WebhookSignatureGuard } from './webhook-signature.guard.js';

const SECRET = 'a-webhook-secret-of-at-least-32-characters';
const body = Buffer.from('{"id":"evt_1","type":"invoice.paid"}');

function guard(payments: AppConfig['payments'] = { webhookSecret: SECRET, webhookToleranceS: 300, timeoutMs: 5_000 }) {
  const config = { payments } as AppConfig;
  return new WebhookSignatureGuard({ name: 'fake' } as PaymentProvider, config);
}

function delivery(provider: string, signature: string | undefined, rawBody: { rawBody?: Buffer } = { rawBody: body }) {
  const request = { params: { provider }, headers: { 'vesta-signature': signature }, ...rawBody };
  return { switchToHttp: () => ({ getRequest: () => request }) } as ExecutionContext;
}

const now = () => Math.floor(Date.now() / 1000);

describe('WebhookSignatureGuard', () => {
  it('admits a delivery signed over its raw body', () => {
    expect(guard().canActivate(delivery('fake', sign(SECRET, body, now())))).toBe(true);
  });

  it('refuses unsigned, wrongly signed and bodiless deliveries (400)', () => {
    for (const context of [
      delivery('fake', undefined),
      delivery('fake', sign(`${SECRET}x`, body, now())),
      delivery('fake', sign(SECRET, body, now()), {}),
    ]) {
      expect(() => guard().canActivate(context)).toThrow(BadRequestException);
    }
  });

  it('answers 404 for another provider and 503 when no secret is configured', () => {
    expect(() => guard().canActivate(delivery('stripe', sign(SECRET, body, now())))).toThrow(NotFoundException);
    const unconfigured = guard({ webhookSecret: undefined, webhookToleranceS: 300, timeoutMs: 5_000 });
    expect(() => unconfigured.canActivate(delivery('fake', undefined))).toThrow(ServiceUnavailableException);
  });
});
