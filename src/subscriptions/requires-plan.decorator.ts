import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { ApiConflictResponse, ApiForbiddenResponse } from '@nestjs/swagger';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { PlanRequiredProblemDto } from './dto/plan-required-problem.dto.js';
import { PlanGuard, REQUIRED_PLAN } from './plan.guard.js';
import type { PlanId } from './plans.js';
import { DAMAGED_SUBSCRIPTION } from './stored-subscription.js';

/**
 * Opens a route to members on `plan` or a higher one; others get 403 naming the plan they need, and a member whose
 * subscription record is damaged 409 (SubscriptionNeedsSupportException).
 */
export const RequiresPlan = (plan: PlanId): MethodDecorator =>
  applyDecorators(
    SetMetadata(REQUIRED_PLAN, plan),
    UseGuards(PlanGuard),
    ApiForbiddenResponse({ type: PlanRequiredProblemDto, description: `Needs the ${plan} plan or higher` }),
    ApiConflictResponse({ type: ProblemResponseDto, description: DAMAGED_SUBSCRIPTION }),
  );
