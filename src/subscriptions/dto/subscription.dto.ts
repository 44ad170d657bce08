import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { FEATURES, PLAN_IDS, type Feature, type PlanId } from '../plans.js';
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from '../subscription.schema.js';

/** A card token as the payment provider writes it. */
const PAYMENT_TOKEN = /^[\w-]+$/;

/** The client names a plan and a card token; price, currency and period come from the catalogue only. */
export class SubscribeDto {
  @ApiProperty({ enum: ['premium', 'platinum'] })
  @IsIn(['premium', 'platinum'])
  plan: PlanId;

  @ApiProperty({
    example: 'tok_visa',
    maxLength: 200,
    pattern: PAYMENT_TOKEN.source,
    description: 'A card token from the payment provider',
  })
  @IsString()
  @MaxLength(200)
  @Matches(PAYMENT_TOKEN)
  paymentToken: string;
}

export class ChangePlanDto {
  @ApiProperty({ enum: ['premium', 'platinum'] })
  @IsIn(['premium', 'platinum'])
  plan: PlanId;

  @ApiPropertyOptional({
    maxLength: 200,
    pattern: PAYMENT_TOKEN.source,
    description: 'Required for an upgrade, which is charged at once',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(PAYMENT_TOKEN)
  paymentToken?: string;
}

export class PlanDto {
  @ApiProperty({ enum: PLAN_IDS }) id: PlanId;
  @ApiProperty({ example: 'Premium' }) name: string;
  @ApiProperty({ type: 'integer', example: 999, description: 'Minor units (cents)' }) priceMinor: number;
  @ApiProperty({ example: 'EUR' }) currency: string;
  @ApiProperty({ example: 'month' }) billingPeriod: string;
  @ApiProperty({ type: 'integer', example: 1 }) rank: number;
  @ApiProperty({ enum: FEATURES, isArray: true }) features: Feature[];
}

export class SubscriptionDto {
  @ApiProperty({ enum: PLAN_IDS }) plan: PlanId;
  @ApiProperty({ enum: SUBSCRIPTION_STATUSES }) status: SubscriptionStatus;
  @ApiProperty({ format: 'date-time' }) currentPeriodStart: string;
  @ApiProperty({ format: 'date-time' }) currentPeriodEnd: string;
  @ApiProperty() cancelAtPeriodEnd: boolean;
  @ApiPropertyOptional({ enum: PLAN_IDS, description: 'A downgrade waiting for the period end; absent when none' })
  pendingPlan?: PlanId;
  @ApiPropertyOptional({
    enum: PLAN_IDS,
    description:
      'The plan that applies until currentPeriodStart: a renewal confirmed before the paid period ended started the ' +
      'next period, on the downgraded plan, at its end; absent otherwise',
  })
  previousPlan?: PlanId;
}

export class AdminSubscriptionDto extends SubscriptionDto {
  @ApiProperty({ example: '665f1c2e8a1b2c3d4e5f6a7b', description: 'The member' }) userId: string;
}

/** A stored subscription that cannot be read (stored-subscription.ts): for support to repair. */
export class DamagedSubscriptionDto {
  @ApiProperty({ example: '665f1c2e8a1b2c3d4e5f6a7c', description: 'The stored record' }) id: string;
  @ApiProperty({ example: '665f1c2e8a1b2c3d4e5f6a7b', description: 'The member, as stored' }) userId: string;
  @ApiProperty({ example: ['currentPeriodEnd is "2027-01-31", not a date'], description: 'What is wrong with it' })
  problems: string[];
}

export class AdminSubscriptionPageDto {
  @ApiProperty({ type: [AdminSubscriptionDto] }) items: AdminSubscriptionDto[];
  @ApiPropertyOptional({
    type: [DamagedSubscriptionDto],
    description:
      'Subscriptions of this page whose stored record cannot be read: listed here, not in items, until support ' +
      'repairs them (each is logged as a warning with its id); on the first page also those stored with an id ' +
      'that is no ObjectId; absent when none',
  })
  damaged?: DamagedSubscriptionDto[];
  @ApiPropertyOptional({ description: 'Pass as `cursor` for the next page; absent on the last page' })
  nextCursor?: string;
}
