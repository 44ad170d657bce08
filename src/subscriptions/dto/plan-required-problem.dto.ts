import { ApiProperty } from '@nestjs/swagger';
import { ProblemResponseDto } from '../../common/problem/problem-response.dto.js';
import { PLAN_IDS, type PlanId } from '../plans.js';

/** The 403 of a route for paid plans (PlanGuard): the problem, plus the plan it needs and the caller's. */
export class PlanRequiredProblemDto extends ProblemResponseDto {
  @ApiProperty({ enum: PLAN_IDS, example: 'premium', description: 'The lowest plan the route is open to' })
  requiredPlan: PlanId;

  @ApiProperty({ enum: PLAN_IDS, example: 'free', description: "The caller's plan" })
  plan: PlanId;
}
