import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { QueryNumber } from './query-number.js';

/** An optional integer query parameter within bounds, in plain decimal digits (query values arrive as strings). */
export function OptionalIntQuery(min: number, max: number, defaultValue?: number): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ type: 'integer', minimum: min, maximum: max, default: defaultValue }),
    IsOptional(),
    QueryNumber({ integer: true }),
    IsInt(),
    Min(min),
    Max(max),
  );
}

/** Page size: 1–100, default 20. */
export const PageLimit = (): PropertyDecorator => OptionalIntQuery(1, 100, 20);

/** The opaque cursor a list answered as `nextCursor`, for its next page. */
export const PageCursor = (): PropertyDecorator =>
  applyDecorators(
    ApiPropertyOptional({
      description:
        'Opaque cursor from the previous page (nextCursor), sent with the same filters (limit may change); ' +
        'a cursor from another list or other filters is a 400',
      maxLength: 200,
    }),
    IsOptional(),
    IsString(),
    MaxLength(200),
  );
