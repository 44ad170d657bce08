import { Body, Controller, Get, Headers, HttpCode, Post, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPaymentRequiredResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/decorators/current-user.decorator.js';
import { Public } from '../auth/decorators/public.decorator.js';
import { CacheControl } from '../cache/http-cache.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { invalidField } from '../common/problem/validation-exception.factory.js';
import { ChangePlanDto, PlanDto, SubscribeDto, SubscriptionDto } from './dto/subscription.dto.js';
import { IdempotencyService, ReplayedAnswerException } from './idempotency.service.js';
import { PLANS } from './plans.js';
import { DAMAGED_SUBSCRIPTION } from './stored-subscription.js';
import type { SubscriptionView } from './subscription.view.js';
import { SubscriptionsService } from './subscriptions.service.js';

/**
 * Bare, as most payment APIs take it, or quoted: the IETF draft (draft-ietf-httpapi-idempotency-key-header) makes the
 * header a Structured Field string, `"8e03978e-..."`, and a client following it got 400 until 2026-12-07. Both forms
 * name the same key.
 */
const IDEMPOTENCY_KEY = /^(?:[\w-]{8,100}|"[\w-]{8,100}")$/;

function idempotencyKey(header: string | undefined): string {
  if (!header || !IDEMPOTENCY_KEY.test(header)) {
    throw invalidField(
      'Idempotency-Key',
      'Idempotency-Key is required: 8 to 100 letters, digits, "-" or "_", quoted or not',
    );
  }
  return header.replaceAll('"', '');
}

const IdempotencyKeyHeader = ApiHeader({
  name: 'Idempotency-Key',
  required: true,
  schema: { type: 'string', pattern: IDEMPOTENCY_KEY.source },
  description: 'Retries with the same key for at least 24 hours return the first answer and never charge twice',
});
/** On the answers an Idempotency-Key stores (successes and client errors), when a retry gets the stored one. */
const REPLAYED_HEADER = {
  'Idempotent-Replayed': {
    description:
      'Sent (`true`) when this is the stored answer of an earlier request with the same Idempotency-Key: ' +
      'nothing ran and nothing was charged again. Absent on the first answer.',
    schema: { type: 'string', enum: ['true'] },
  },
};
const PaymentDeclined = ApiPaymentRequiredResponse({
  type: ProblemResponseDto,
  description: 'The payment was declined',
  headers: REPLAYED_HEADER,
});
const KeyReused = ApiUnprocessableEntityResponse({
  type: ProblemResponseDto,
  description: 'Key reused with another body or for another payment',
  headers: REPLAYED_HEADER,
});
const NOT_NOW = `The subscription is not in a state that allows it; or: ${DAMAGED_SUBSCRIPTION}`;
const NoSubscription = ApiNotFoundResponse({ type: ProblemResponseDto, description: 'No subscription' });

@ApiTags('subscriptions')
@Controller()
export class SubscriptionsController {
  constructor(
    private readonly subscriptions: SubscriptionsService,
    private readonly idempotency: IdempotencyService,
  ) {}

  @Public()
  @Get('plans')
  @CacheControl('public')
  @ApiOperation({ summary: 'The plan catalogue: prices in minor units, billing period, features' })
  @ApiOkResponse({ type: [PlanDto] })
  plans(): PlanDto[] {
    return Object.values(PLANS).map((plan) => ({ ...plan, features: [...plan.features] }));
  }

  @Post('subscriptions')
  @ApiBearerAuth()
  @IdempotencyKeyHeader
  @ApiOperation({ summary: 'Subscribe to a paid plan (charged at the catalogue price)' })
  @ApiCreatedResponse({
    type: SubscriptionDto,
    headers: { Location: { description: '/v1/subscriptions/me', schema: { type: 'string' } }, ...REPLAYED_HEADER },
  })
  @ApiConflictResponse({
    type: ProblemResponseDto,
    description: `Already subscribed, or a request with this key still running or failed; or: ${DAMAGED_SUBSCRIPTION}`,
    headers: REPLAYED_HEADER,
  })
  @PaymentDeclined
  @KeyReused
  async subscribe(
    @CurrentUser() user: AuthenticatedUser,
    @Body() body: SubscribeDto,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SubscriptionView> {
    const checkedKey = idempotencyKey(key);
    const answer = await this.once(reply, user, checkedKey, { op: 'subscribe', ...body }, 201, () =>
      this.subscriptions.subscribe(user, body.plan, body.paymentToken, checkedKey),
    );
    void reply.header('location', '/v1/subscriptions/me');
    return answer;
  }

  @Get('subscriptions/me')
  @CacheControl('no-store')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Your subscription' })
  @ApiOkResponse({ type: SubscriptionDto })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'Never subscribed: the free plan applies' })
  @ApiConflictResponse({ type: ProblemResponseDto, description: DAMAGED_SUBSCRIPTION })
  mine(@CurrentUser() user: AuthenticatedUser): Promise<SubscriptionView> {
    return this.subscriptions.mine(user);
  }

  @Post('subscriptions/me/plan')
  @HttpCode(200)
  @ApiBearerAuth()
  @IdempotencyKeyHeader
  @ApiOperation({
    summary:
      'Upgrade (charged, starts now; a cancellation stays, so the upgraded period ends without renewal unless you ' +
      'resume) or downgrade (at the end of the paid period)',
  })
  @ApiOkResponse({ type: SubscriptionDto, headers: REPLAYED_HEADER })
  // The service's own 400s are stored with the key, and replayed, as its other refusals are.
  @ApiBadRequestResponse({
    type: ProblemResponseDto,
    description:
      'Invalid input: a field, the Idempotency-Key header, or a query parameter that is invalid or that the route ' +
      'does not take; or an upgrade without a paymentToken',
    headers: REPLAYED_HEADER,
  })
  @ApiNotFoundResponse({ type: ProblemResponseDto, description: 'No subscription', headers: REPLAYED_HEADER })
  @ApiConflictResponse({
    type: ProblemResponseDto,
    description:
      'Already on that plan, the subscription not active, another change in progress, an upgrade before the ' +
      'period a renewal paid for ahead has started (the detail names when it starts), or one after the paid period ' +
      `ended while its renewal is not confirmed yet; or: ${DAMAGED_SUBSCRIPTION}`,
    headers: REPLAYED_HEADER,
  })
  @PaymentDeclined
  @KeyReused
  changePlan(
    @CurrentUser() user: AuthenticatedUser,
    @Body() body: ChangePlanDto,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<SubscriptionView> {
    const checkedKey = idempotencyKey(key);
    return this.once(reply, user, checkedKey, { op: 'change-plan', ...body }, 200, () =>
      this.subscriptions.changePlan(user, body.plan, body.paymentToken, checkedKey),
    );
  }

  @Post('subscriptions/me/cancel')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Cancel at the end of the paid period; a past-due subscription ends at once' })
  @ApiOkResponse({ type: SubscriptionDto })
  @NoSubscription
  @ApiConflictResponse({ type: ProblemResponseDto, description: NOT_NOW })
  cancel(@CurrentUser() user: AuthenticatedUser): Promise<SubscriptionView> {
    return this.subscriptions.cancel(user);
  }

  @Post('subscriptions/me/resume')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Undo a cancellation before the period ends' })
  @ApiOkResponse({ type: SubscriptionDto })
  @NoSubscription
  @ApiConflictResponse({ type: ProblemResponseDto, description: NOT_NOW })
  resume(@CurrentUser() user: AuthenticatedUser): Promise<SubscriptionView> {
    return this.subscriptions.resume(user);
  }

  private async once(
    reply: FastifyReply,
    user: AuthenticatedUser,
    key: string,
    body: object,
    status: number,
    operation: () => Promise<SubscriptionView>,
  ): Promise<SubscriptionView> {
    const result = await this.idempotency.run(user.id, key, body, status, operation).catch((error: unknown) => {
      // A stored refusal is replayed as a stored success is, and marked the same: without the mark a client cannot
      // tell that its retry ran nothing (a replayed 402 is the first attempt's decline, not a second one).
      if (error instanceof ReplayedAnswerException) void reply.header('idempotent-replayed', 'true');
      throw error;
    });
    if (result.replayed) void reply.header('idempotent-replayed', 'true');
    void reply.status(result.status);
    return result.body;
  }
}
