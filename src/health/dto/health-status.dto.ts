import { ApiProperty } from '@nestjs/swagger';

export class HealthStatusDto {
  @ApiProperty({ example: 'ok' })
  status: 'ok';
}

export class ReadinessDto extends HealthStatusDto {
  @ApiProperty({
    description: 'Each check by name with its status',
    example: { mongodb: { status: 'up' } },
    type: 'object',
    additionalProperties: true,
  })
  checks: Record<string, unknown>;
}
