import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

class FieldErrorDto {
  @ApiProperty({ example: 'email' })
  field: string;

  @ApiProperty({ example: 'email must be an email' })
  message: string;
}

/** OpenAPI description of the RFC 9457 body every error response carries. */
export class ProblemResponseDto {
  @ApiProperty({ example: 'about:blank', description: 'Problem type URI reference' })
  type: string;

  @ApiProperty({ example: 'Bad Request' })
  title: string;

  @ApiProperty({ type: 'integer', example: 400 })
  status: number;

  @ApiProperty({ example: 'The request has invalid fields; see errors.' })
  detail: string;

  @ApiPropertyOptional({
    example: '/v1/profiles',
    description: 'What the request asked for, without its query; absent when the request could not be read as HTTP',
  })
  instance?: string;

  @ApiProperty({ example: '0f8fad5b-d9cb-469f-a165-70867728950e', description: 'Echoes x-request-id' })
  requestId: string;

  @ApiPropertyOptional({
    type: [FieldErrorDto],
    description: 'One entry per failed check of a field (a field may have several)',
  })
  errors?: FieldErrorDto[];
}

/** WWW-Authenticate as OpenAPI describes it on a 401 response, where the problem filter always sends it. */
export const WWW_AUTHENTICATE_HEADER = {
  'WWW-Authenticate': { description: 'The scheme to authenticate with', schema: { type: 'string', enum: ['Bearer'] } },
};

/** Retry-After as OpenAPI describes it on a 429 response: one description for the whole document. */
export const RETRY_AFTER_HEADER = {
  'Retry-After': { description: 'Seconds until a retry can pass', schema: { type: 'integer' } },
};
