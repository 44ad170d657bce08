import {
  BadRequestException,
  Body,
  Controller,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Req,
  ServiceUnavailableException,
  Inject,
  type RawBodyRequest,
} from '@nestjs/common';
import { ApiBadRequestResponse, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { Public } from '../auth/decorators/public.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { WebhookEventDto } from './dto/webhook-event.dto.js';
import { PAYMENT_PROVIDER, type PaymentProvider } from './payment-provider.js';
import { SubscriptionWebhooks } from './subscription-webhooks.service.js';
import { SIGNATURE_HEADER, signatureProblem } from './webhook-signature.js';

/** Called by the payment provider, not by members: authenticated by signature, and not rate limited. */
@ApiTags('subscriptions')
@Public()
@SkipThrottle()
@Controller('subscriptions/webhooks')
export class SubscriptionWebhooksController {
  constructor(
    private readonly webhooks: SubscriptionWebhooks,
    @Inject(PAYMENT_PROVIDER) private readonly provider: PaymentProvider,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  @Post(':provider')
  @HttpCode(200)
  @ApiHeader({ name: 'Vesta-Signature', required: true, description: 't=<unix s>,v1=<hex HMAC-SHA256 of "t.body">' })
  @ApiOperation({ summary: 'Payment provider events (renewal paid, payment failed); each applied at most once' })
  @ApiOkResponse({ description: '{ received: true, duplicate }' })
  @ApiBadRequestResponse({ type: ProblemResponseDto, description: 'Bad signature, stale timestamp or body' })
  receive(
    @Param('provider') provider: string,
    @Headers(SIGNATURE_HEADER) signature: string | undefined,
    @Req() request: RawBodyRequest<FastifyRequest>,
    @Body() event: WebhookEventDto,
  ): Promise<{ received: true; duplicate: boolean }> {
    if (provider !== this.provider.name) throw new NotFoundException(`No payment provider "${provider}"`);
    const { webhookSecret, webhookToleranceS } = this.config.payments;
    if (!webhookSecret) throw new ServiceUnavailableException('Webhooks are not configured (PAYMENT_WEBHOOK_SECRET)');
    const problem = signatureProblem(signature, request.rawBody ?? Buffer.alloc(0), webhookSecret, webhookToleranceS);
    if (problem) throw new BadRequestException(`Webhook rejected: ${problem}`);
    return this.webhooks.handle(provider, event);
  }
}
