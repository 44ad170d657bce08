import { ForbiddenException, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthenticatedRequest } from '../auth/decorators/current-user.decorator.js';
import { routeMetadata } from '../common/metadata/route-metadata.js';
import { PLANS, type PlanId } from './plans.js';
import { SubscriptionsService } from './subscriptions.service.js';

/** Route metadata set by @RequiresPlan (requires-plan.decorator.ts). */
export const REQUIRED_PLAN = 'vesta:requiredPlan';

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
