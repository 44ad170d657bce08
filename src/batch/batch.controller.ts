import { Body, Controller, HttpCode, Post, Req } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Public } from '../auth/decorators/public.decorator.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { REQUEST_ID_HEADER } from '../http/request-id.js';
import { BatchRequestDto, BatchResponseDto, type BatchItemResultDto } from './dto/batch.dto.js';

/** Headers a sub-request inherits, so it is authenticated, throttled and cached as if sent alone. */
const INHERITED_HEADERS = ['authorization', 'x-forwarded-for', 'user-agent', 'accept-language'] as const;

@ApiTags('batch')
@Controller('batch')
export class BatchController {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Public()
  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: `Run up to 20 GET requests in one round trip; each runs through the full stack with the caller's token`,
  })
  @ApiOkResponse({ type: BatchResponseDto })
  @ApiBadRequestResponse({
    type: ProblemResponseDto,
    description: 'Not GET, not a /v1 path, nested batch, or too many',
  })
  async run(@Body() body: BatchRequestDto, @Req() request: FastifyRequest): Promise<BatchResponseDto> {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const inherited = Object.fromEntries(
      INHERITED_HEADERS.flatMap((name) => (request.headers[name] ? [[name, request.headers[name]]] : [])),
    ) as Record<string, string>;

    const responses = await Promise.all(
      body.requests.map(async (item, index): Promise<BatchItemResultDto> => {
        const response = await fastify.inject({
          method: item.method,
          url: item.path,
          remoteAddress: request.ip,
          headers: { ...inherited, [REQUEST_ID_HEADER]: `${request.id}.${index}`, 'accept-encoding': 'identity' },
        });
        const isJson = /json/.test(String(response.headers['content-type'] ?? ''));
        return { status: response.statusCode, body: isJson ? response.json<unknown>() : response.body };
      }),
    );
    return { responses };
  }
}
