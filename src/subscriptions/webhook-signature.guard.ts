import {
  BadRequestException,
  Inject,
  Injectable,
  NotFoundException,
  ServiceUnavailableException,
  type CanActivate,
  type ExecutionContext,
  type RawBodyRequest,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { PAYMENT_PROVIDER, type PaymentProvider } from './payment-provider.js';
import { SIGNATURE_HEADER, signatureProblem } from './webhook-signature.js';

type WebhookRequest = RawBodyRequest<FastifyRequest<{ Params: { provider?: string } }>>;

/**
 * Admits only deliveries signed by the payment provider. A guard, so it runs before the body is validated: the route
 * is public and not rate limited, and validating an unsigned body of thousands of unknown keys cost hundreds of
 * milliseconds of CPU and answered megabytes of errors.
 */
@Injectable()
export class WebhookSignatureGuard implements CanActivate {
  constructor(
    @Inject(PAYMENT_PROVIDER) private readonly provider: PaymentProvider,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<WebhookRequest>();
    const provider = request.params.provider;
    if (provider !== this.provider.name) throw new NotFoundException(`No payment provider "${provider}"`);
    const { webhookSecret, webhookToleranceS } = this.config.payments;
    if (!webhookSecret) throw new ServiceUnavailableException('Webhooks are not configured (PAYMENT_WEBHOOK_SECRET)');
    const header = request.headers[SIGNATURE_HEADER];
    const problem = signatureProblem(
      typeof header === 'string' ? header : undefined,
      request.rawBody ?? Buffer.alloc(0),
      webhookSecret,
      webhookToleranceS,
    );
    if (problem) throw new BadRequestException(`Webhook rejected: ${problem}`);
    return true;
  }
}
