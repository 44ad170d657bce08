import { BullModule } from '@nestjs/bull';
import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { CacheModule } from '../cache/cache.module.js';
import { RedisModule } from '../redis/redis.module.js';
import { AdminSubscriptionsController } from './admin-subscriptions.controller.js';
import { IdempotencyRecord, IdempotencyRecordSchema } from './idempotency-record.schema.js';
import { IdempotencyRecordsRepository } from './idempotency-records.repository.js';
import { IdempotencyService } from './idempotency.service.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { BoundedPaymentProvider } from './bounded-payment-provider.js';
import { FakePaymentProvider, PAYMENT_PROVIDER } from './payment-provider.js';
import { PlanGuard } from './plan.guard.js';
import { Subscription, SubscriptionSchema } from './subscription.schema.js';
import { SUBSCRIPTIONS_QUEUE, SubscriptionSweepScheduler } from './subscription-sweep.scheduler.js';
import { SubscriptionSweeper } from './subscription-sweeper.js';
import { UnsettledCharges } from './unsettled-charges.js';
import { SubscriptionWebhooksController } from './subscription-webhooks.controller.js';
import { SubscriptionWebhooksService } from './subscription-webhooks.service.js';
import { SubscriptionsController } from './subscriptions.controller.js';
import { WebhookEventsRepository } from './webhook-events.repository.js';
import { WebhookEvent, WebhookEventSchema } from './webhook-event.schema.js';
import { SubscriptionsRepository } from './subscriptions.repository.js';
import { SubscriptionsService } from './subscriptions.service.js';

/**
 * Plans, subscriptions and entitlements. The payment processor is the fake one until a real one is chosen; it reaches
 * the services as PAYMENT_PROVIDER, each call bounded by PAYMENT_TIMEOUT_MS, so swapping it touches this file only.
 */
@Module({
  imports: [
    MongooseModule.forFeature([
      { name: Subscription.name, schema: SubscriptionSchema },
      { name: IdempotencyRecord.name, schema: IdempotencyRecordSchema },
      { name: WebhookEvent.name, schema: WebhookEventSchema },
    ]),
    CacheModule,
    RedisModule,
    BullModule.registerQueue({ name: SUBSCRIPTIONS_QUEUE }),
  ],
  controllers: [SubscriptionsController, SubscriptionWebhooksController, AdminSubscriptionsController],
  providers: [
    SubscriptionsRepository,
    SubscriptionsService,
    IdempotencyService,
    IdempotencyRecordsRepository,
    PlanGuard,
    SubscriptionSweeper,
    UnsettledCharges,
    SubscriptionWebhooksService,
    WebhookEventsRepository,
    SubscriptionSweepScheduler,
    FakePaymentProvider,
    {
      provide: PAYMENT_PROVIDER,
      inject: [FakePaymentProvider, APP_CONFIG],
      useFactory: (processor: FakePaymentProvider, config: AppConfig) =>
        new BoundedPaymentProvider(processor, config.payments.timeoutMs),
    },
  ],
  exports: [SubscriptionsService, PlanGuard],
})
export class SubscriptionsModule {}
