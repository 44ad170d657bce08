import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { ApiForbiddenResponse } from '@nestjs/swagger';
import { PlanRequiredProblemDto } from './dto/plan-required-problem.dto.js';
import { PlanGuard, REQUIRED_PLAN } from './plan.guard.js';
import type { PlanId } from './plans.js';

/** Opens a route to members on `plan` or a higher one; others get 403 naming the plan they need. */
export const RequiresPlan = (plan: PlanId): MethodDecorator =>
  applyDecorators(
    SetMetadata(REQUIRED_PLAN, plan),
    UseGuards(PlanGuard),
    ApiForbiddenResponse({ type: PlanRequiredProblemDto, description: `Needs the ${plan} plan or higher` }),
  );
