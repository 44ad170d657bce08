import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsString, Matches, MaxLength } from 'class-validator';
import { NestedObject } from '../../common/validation/nested-object.js';

export const MAX_BATCH_SIZE = 20;

/**
 * An item's headers that its answer keeps: when to retry a 429 or 503, and how to keep and revalidate a 200 (the
 * batch itself is no-store). The rest (length, type, request id, RateLimit-*) the batch answers for as a whole.
 */
export const BATCH_ITEM_HEADERS = ['retry-after', 'etag', 'cache-control'] as const;

// A /v1 path (no scheme, host or ..); a batch may not contain another batch, nor a media download (answers are JSON: a
// file would be held whole in memory and mangled as text). No percent-encoding before the query: routing decodes it, so
// `%2e%2e` or `%62atch` would pass these checks and reach what they exclude. The query takes what RFC 3986 allows in
// one (routing never reads it), but for `..`, `//` and `/./`, refused anywhere below: encodeURIComponent leaves
// ' ( ) ! * as they are, and a city such as L'Aquila, which the route takes alone, failed the whole batch until
// 2026-12-06.
const API_PATH = /^\/v1\/(?!(?:batch|media)(?:[/?]|$))[\w\-.~/]*(?:\?[\w\-.~%!$&'()*+,;=:@/?]*)?$/i;
const NO_DOT_DOT = /^(?!.*\.\.)/;
// Injection resolves `.` segments and routing merges `//`: `/v1/./media` and `/v1//media` would reach media.
const NO_DOT_OR_EMPTY_SEGMENT = /^(?!.*(?:\/\.(?:[/?]|$)|\/\/))/;

export class BatchItemDto {
  @ApiProperty({ enum: ['GET'], description: 'Only reads can be batched' })
  @IsIn(['GET'])
  method: 'GET';

  @ApiProperty({
    type: String,
    example: '/v1/profiles?city=Berlin&fields=displayName,age',
    maxLength: 2048,
    // OpenAPI patterns take no flags: "batch" and "media" are refused in any case. Swagger drops the property's type
    // beside allOf, so each branch says it: untyped, a generated client took anything (openapi-typescript: `unknown`).
    allOf: [API_PATH, NO_DOT_DOT, NO_DOT_OR_EMPTY_SEGMENT].map((pattern) => ({
      type: 'string',
      pattern: pattern.source,
    })),
    description: 'A /v1 path and query, not /v1/batch or /v1/media (in any case), without .. or . or empty segments',
  })
  @IsString()
  @MaxLength(2048)
  @Matches(API_PATH, { message: 'path must be a /v1 JSON API path (not /v1/batch or /v1/media)' })
  @Matches(NO_DOT_DOT, { message: 'path must not contain ..' })
  @Matches(NO_DOT_OR_EMPTY_SEGMENT, { message: 'path must not contain . or empty segments' })
  path: string;
}

export class BatchRequestDto {
  @ApiProperty({ type: [BatchItemDto], minItems: 1, maxItems: MAX_BATCH_SIZE })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BATCH_SIZE)
  @NestedObject(() => BatchItemDto, { each: true })
  requests: BatchItemDto[];
}

export class BatchItemResultDto {
  @ApiProperty({ type: 'integer', example: 200 })
  status: number;

  // JSON answers are objects or, for the list routes (plans, popular, nearby...), arrays.
  @ApiProperty({
    oneOf: [
      { type: 'object', additionalProperties: true },
      { type: 'array', items: {} },
    ],
    description: 'The sub-response body: JSON (an object or an array), or problem+json for errors',
  })
  body: unknown;

  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { 'retry-after': '5' },
    description: `The sub-response's headers a client acts on, when it had them: ${BATCH_ITEM_HEADERS.join(', ')}`,
  })
  headers: Record<string, string>;
}

export class BatchResponseDto {
  @ApiProperty({ type: [BatchItemResultDto], description: 'In request order' })
  responses: BatchItemResultDto[];
}
