import { applyDecorators } from '@nestjs/common';
import { ApiHeader, ApiNotFoundResponse, ApiOkResponse, ApiResponse } from '@nestjs/swagger';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { ApiHead } from '../http/api-head.decorator.js';

const IMAGE_BYTES = { 'image/*': { schema: { type: 'string', format: 'binary' } } };
const text = (description: string) => ({ description, schema: { type: 'string' } });

/** What lets a client or a cache keep a download and ask again cheaply: on the 200, the 206 and the 304. */
const VALIDATORS = {
  ETag: {
    description: 'Strong: the SHA-256 of the bytes served, in quotes',
    schema: { type: 'string', pattern: '^"[0-9a-f]{64}"$' },
  },
  'Last-Modified': text('When the file (or the variant) was stored; absent while a variant is pending'),
  'Cache-Control': text(
    'public, max-age=MEDIA_CACHE_MAX_AGE_S, immutable (without immutable when 0); max-age=60 at most while a variant ' +
      'is pending',
  ),
};
const CONTENT_LENGTH = { description: 'Bytes in this body', schema: { type: 'integer' } };
/** Set before the answer is decided, so the 304, 412 and 416 carry it too. */
const ACCEPT_RANGES = { 'Accept-Ranges': { description: 'bytes', schema: { type: 'string', enum: ['bytes'] } } };

/**
 * The download's OpenAPI text: the Range and conditional headers it reads and the headers each answer carries, so a
 * generated client knows it can resume a download and revalidate a copy (MediaController's send does both).
 */
export const ApiMediaDownload = () =>
  applyDecorators(
    ApiHead('Size, type and validators of a file or a variant: the download without its bytes'),
    ApiHeader({
      name: 'Range',
      required: false,
      description:
        'One byte range: bytes=a-b, bytes=a- or bytes=-n; several ranges, or a malformed one, get the whole file',
    }),
    ApiHeader({
      name: 'If-Range',
      required: false,
      description: 'The strong ETag a partial copy came with: the Range applies only if it still matches (no dates)',
    }),
    ApiHeader({
      name: 'If-Match',
      required: false,
      description: 'ETags (strong comparison) or *: 412 unless one matches, e.g. to resume only the same bytes',
    }),
    ApiHeader({
      name: 'If-Unmodified-Since',
      required: false,
      description: 'Without If-Match: 412 if stored after this date',
    }),
    ApiHeader({ name: 'If-None-Match', required: false, description: 'ETags (weak comparison) or *: 304 on a match' }),
    ApiHeader({
      name: 'If-Modified-Since',
      required: false,
      description: 'Without If-None-Match: 304 unless stored after this date',
    }),
    ApiOkResponse({
      content: IMAGE_BYTES,
      description: 'The whole file (a HEAD: its headers only)',
      headers: { ...VALIDATORS, ...ACCEPT_RANGES, 'Content-Length': CONTENT_LENGTH },
    }),
    ApiResponse({
      status: 206,
      content: IMAGE_BYTES,
      description: 'The range asked for',
      headers: {
        ...VALIDATORS,
        ...ACCEPT_RANGES,
        'Content-Range': text('bytes a-b/size'),
        'Content-Length': CONTENT_LENGTH,
      },
    }),
    ApiResponse({
      status: 304,
      description: 'If-None-Match or If-Modified-Since matched: no body',
      headers: { ...VALIDATORS, ...ACCEPT_RANGES },
    }),
    ApiNotFoundResponse({ type: ProblemResponseDto, description: 'No such file, or its stored bytes are incomplete' }),
    ApiResponse({
      status: 412,
      type: ProblemResponseDto,
      description: 'If-Match named none of its ETags, or it was stored after If-Unmodified-Since: no file bytes',
      headers: ACCEPT_RANGES,
    }),
    ApiResponse({
      status: 416,
      type: ProblemResponseDto,
      description: 'The Range starts past the end, or asks for the last 0 bytes',
      headers: { ...ACCEPT_RANGES, 'Content-Range': text('bytes */size') },
    }),
  );
