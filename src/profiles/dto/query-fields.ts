import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** An optional integer query parameter within bounds (query values arrive as strings). */
export function OptionalIntQuery(min: number, max: number, defaultValue?: number): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ minimum: min, maximum: max, default: defaultValue }),
    IsOptional(),
    Type(() => Number),
    IsInt(),
    Min(min),
    Max(max),
  );
}

/** Page size: 1–100, default 20. */
export const PageLimit = (): PropertyDecorator => OptionalIntQuery(1, 100, 20);
