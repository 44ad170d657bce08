import {
  applyDecorators,
  ForbiddenException,
  Injectable,
  SetMetadata,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiForbiddenResponse } from '@nestjs/swagger';
import type { AuthenticatedRequest } from '../auth/decorators/current-user.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { routeMetadata } from '../common/metadata/route-metadata.js';
import { PLANS, type PlanId } from './plans.js';
import { SubscriptionsService } from './subscriptions.service.js';

const REQUIRED_PLAN = 'vesta:requiredPlan';

/** Reads the caller's plan from the cached entitlement (evicted on every subscription change). */
@Injectable()
export class PlanGuard implements CanActivate {
  private readonly requiredPlan: (context: ExecutionContext) => PlanId | undefined;

  constructor(
    private readonly subscriptions: SubscriptionsService,
    reflector: Reflector,
  ) {
    this.requiredPlan = routeMetadata<PlanId>(reflector, REQUIRED_PLAN);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const required = this.requiredPlan(context);
    if (!required) return true;
    const user = context.switchToHttp().getRequest<AuthenticatedRequest>().user;
    const plan = user ? await this.subscriptions.entitlement(user.id) : 'free';
    if (PLANS[plan].rank >= PLANS[required].rank) return true;
    throw new ForbiddenException({ detail: `Requires the ${required} plan or higher`, requiredPlan: required, plan });
  }
}

/** Opens a route to members on `plan` or a higher one; others get 403 naming the plan they need. */
export const RequiresPlan = (plan: PlanId): MethodDecorator =>
  applyDecorators(
    SetMetadata(REQUIRED_PLAN, plan),
    UseGuards(PlanGuard),
    ApiForbiddenResponse({ type: ProblemResponseDto, description: `Needs the ${plan} plan or higher` }),
  );
