import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiPreconditionFailedResponse } from '@nestjs/swagger';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';

/** The OpenAPI text of a write that evaluates its preconditions with writeCondition(). */
export const ApiWritePreconditions = (what: string) =>
  applyDecorators(
    ApiHeader({
      name: 'If-Unmodified-Since',
      required: false,
      description: `An HTTP-date: the write applies only if the ${what} has not changed since (its updatedAt, to the second)`,
    }),
    ApiHeader({
      name: 'If-Match',
      required: false,
      description: `Only * holds: the ${what}'s ETags are weak, which If-Match never matches (412)`,
    }),
    ApiHeader({
      name: 'If-None-Match',
      required: false,
      description: `Only * is read: the ${what} exists, so it never holds (412)`,
    }),
    ApiPreconditionFailedResponse({
      type: ProblemResponseDto,
      description: `The ${what} changed since If-Unmodified-Since, or an If-Match or If-None-Match: * that cannot hold`,
    }),
  );
