import { Body, Controller, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiNotFoundResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import { TokenIgnored } from '../auth/decorators/token-ignored.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { WebhookEventDto } from './dto/webhook-event.dto.js';
import { SubscriptionWebhooksService } from './subscription-webhooks.service.js';
import { WebhookSignatureGuard } from './webhook-signature.guard.js';
import { NotRateLimited } from '../throttling/not-rate-limited.decorator.js';
import { WebhookReceiptDto } from './dto/webhook-event.dto.js';

/**
 * Called by the payment provider, not by members: authenticated by signature (an Authorization header the provider
 * sends is not read), and not rate limited.
 */
@ApiTags('subscriptions')
@TokenIgnored()
@NotRateLimited()
@UseGuards(WebhookSignatureGuard)
@Controller('subscriptions/webhooks')
export class SubscriptionWebhooksController {
  constructor(private readonly webhooks: SubscriptionWebhooksService) {}

  @Post(':provider')
  @HttpCode(200)
  @ApiHeader({ name: 'Vesta-Signature', required: true, description: 't=<unix s>,v1=<hex HMAC-SHA256 of "t.body">' })
  @ApiOperation({
    summary: 'Payment provider events (renewal paid, payment failed); each applied at most once',
    description:
      'Fields this API does not know, at the top or inside `data`, are ignored; the known ones are validated. ' +
      'Events of types it does not act on are acknowledged with `ignored: true`; nothing is done.',
  })
  @ApiOkResponse({ type: WebhookReceiptDto })
  @ApiBadRequestResponse({ type: ProblemResponseDto, description: 'Bad signature, stale timestamp or body' })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'Not a payment provider this API knows' })
  @ApiServiceUnavailableResponse({
    type: ProblemResponseDto,
    description:
      'Not configured, the subscription is being changed or its record needs repair by support, or another ' +
      'delivery of this event is applying it: nothing applied, deliver again',
  })
  receive(@Param('provider') provider: string, @Body() event: WebhookEventDto): Promise<WebhookReceiptDto> {
    return this.webhooks.handle(provider, event);
  }
}
