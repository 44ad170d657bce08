import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ProblemResponseDto } from '../../common/problem/problem-response.dto.js';

/** The 503 of the readiness probe: the problem, plus which checks failed and, after a check ran, all of them. */
export class ReadinessProblemDto extends ProblemResponseDto {
  @ApiProperty({
    type: [String],
    example: ['mongodb'],
    description: 'The failing checks: mongodb, memory_heap, or shutdown while the instance drains',
  })
  failing: string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { mongodb: { status: 'down', message: 'timeout of 1500ms exceeded' }, memory_heap: { status: 'up' } },
    description: 'Each check by name with its status; absent while shutting down, when none runs',
  })
  checks?: Record<string, unknown>;
}
