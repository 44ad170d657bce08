import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageCursor, PageLimit } from '../../common/validation/query-fields.js';
import { PLAN_IDS, type PlanId } from '../plans.js';
import { SUBSCRIPTION_STATUSES, type SubscriptionStatus } from '../subscription.schema.js';

export class AdminSubscriptionsQuery {
  @ApiPropertyOptional({ enum: SUBSCRIPTION_STATUSES })
  @IsOptional()
  @IsIn(SUBSCRIPTION_STATUSES)
  status?: SubscriptionStatus;

  @ApiPropertyOptional({ enum: PLAN_IDS })
  @IsOptional()
  @IsIn(PLAN_IDS)
  plan?: PlanId;

  @PageLimit()
  limit?: number;

  @PageCursor()
  cursor?: string;
}
