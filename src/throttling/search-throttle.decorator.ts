import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ProblemResponseDto, RETRY_AFTER_HEADER } from '../common/problem/problem-response.dto.js';

export const SEARCH_ROUTE = 'vesta:searchRoute';

/**
 * Puts a route that searches the whole profiles collection (search, nearby, advanced search) under the `search` tier
 * as well: THROTTLE_SEARCH_LIMIT per caller (account, or client address without a token) over all such routes. They are
 * the reads that cost a query each, with no cached answer to share when the filters or the point differ, and the
 * ones a scraper pages through; the general tiers alone would let one account spend all of its allowance on them.
 */
export const SearchThrottle = (): MethodDecorator =>
  applyDecorators(
    SetMetadata(SEARCH_ROUTE, true),
    ApiTooManyRequestsResponse({
      type: ProblemResponseDto,
      description:
        'Rate limit reached: the general one, or the stricter one shared by the searches (THROTTLE_SEARCH_LIMIT per ' +
        'THROTTLE_SEARCH_TTL_S, per account or client address); the RateLimit-* headers of every reply tell how much is left',
      headers: RETRY_AFTER_HEADER,
    }),
  );
