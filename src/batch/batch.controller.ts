import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';
import { ApiOptionalBearerAuth } from '../auth/decorators/optional-bearer-auth.decorator.js';
import { Public } from '../auth/decorators/public.decorator.js';
import { CacheControl } from '../cache/http-cache.js';
import { genericProblem, UNAVAILABLE_RETRY_AFTER_S } from '../common/problem/problem-details.js';
import { ProblemResponseDto } from '../common/problem/problem-response.dto.js';
import { timeLeftMs } from '../http/request-deadlines.js';
import { REQUEST_ID_HEADER } from '../http/request-id.js';
import { reportTightestRateLimit } from '../throttling/rate-limit-headers.js';
import {
  BATCH_ITEM_HEADERS,
  BatchRequestDto,
  BatchResponseDto,
  type BatchItemDto,
  type BatchItemResultDto,
} from './dto/batch.dto.js';

/** Headers a sub-request inherits, so it is authenticated, throttled and cached as if sent alone. */
const INHERITED_HEADERS = ['authorization', 'x-forwarded-for', 'user-agent', 'accept-language'] as const;
/** Time kept, out of the batch's own deadline, to gather the answers and send them. */
const ANSWER_MARGIN_MS = 1_000;
/** Fastify's refusal to inject into a server whose close() has started. */
const INJECT_WHILE_CLOSING = 'FST_ERR_REOPENED_CLOSE_SERVER';

/** An item's result, and the headers it was answered with (none when it got no answer in time). */
interface ItemAnswer {
  result: BatchItemResultDto;
  headers?: Record<string, unknown>;
}

@ApiTags('batch')
@Controller('batch')
export class BatchController {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  @Public()
  @Post()
  @HttpCode(200)
  // The items' own Cache-Control stays in their answers, which are personal (a subscription, who viewed me, an admin
  // summary, each `no-store` alone): without one, the batch that carries them said nothing of keeping them.
  @CacheControl('no-store')
  @ApiOptionalBearerAuth()
  @ApiOperation({
    summary: `Run up to 20 GET requests in one round trip; each runs through the full stack with the caller's token`,
    description: 'The token is optional: sent, it is passed to every item; without one, every item runs anonymously.',
  })
  @ApiOkResponse({ type: BatchResponseDto })
  @ApiBadRequestResponse({
    type: ProblemResponseDto,
    description: 'Not GET, not a /v1 JSON path (media and nested batches are refused), or too many',
  })
  async run(
    @Body() body: BatchRequestDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<BatchResponseDto> {
    const inherited = Object.fromEntries(
      INHERITED_HEADERS.flatMap((name) => (request.headers[name] ? [[name, request.headers[name]]] : [])),
    ) as Record<string, string>;
    // A sub-request has a deadline as long as the batch's; one that hangs would take the batch, and the answers of the
    // others, down with it. Each one gets what the batch has left (its body and guards took some) less
    // ANSWER_MARGIN_MS, or half of it when that is less. Until 2026-12-05 they got a fixed share of HANDLER_TIMEOUT_MS,
    // and a batch whose body came late became one 503 again.
    const left = timeLeftMs(request);
    const itemTimeoutMs = Math.floor(Math.max(0, left / 2, left - ANSWER_MARGIN_MS));
    const answers = await Promise.all(
      body.requests.map((item, index) =>
        this.runItem(item, `${request.id}.${index}`, request.ip, inherited, itemTimeoutMs),
      ),
    );
    // Each item was counted after the guard set the batch's RateLimit headers: they would promise requests the items
    // used up.
    reportTightestRateLimit(
      reply,
      answers.flatMap(({ headers }) => (headers ? [headers] : [])),
    );
    return { responses: answers.map(({ result }) => result) };
  }

  private async runItem(
    item: BatchItemDto,
    id: string,
    remoteAddress: string,
    inherited: Record<string, string>,
    timeoutMs: number,
  ): Promise<ItemAnswer> {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    const response = fastify.inject({
      method: item.method,
      url: item.path,
      remoteAddress,
      headers: { ...inherited, [REQUEST_ID_HEADER]: id, 'accept-encoding': 'identity' },
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ItemAnswer>((resolve) => {
      timer = setTimeout(() => {
        resolve({ result: unavailable(item, id, `No answer within ${timeoutMs} ms; retry in a few seconds`) });
      }, timeoutMs);
    });
    const answered = response.then(
      (answer): ItemAnswer => {
        const isJson = /json/.test(String(answer.headers['content-type'] ?? ''));
        const body = isJson ? answer.json<unknown>() : answer.body;
        return {
          result: { status: answer.statusCode, body, headers: keptHeaders(answer.headers) },
          headers: answer.headers,
        };
      },
      // A batch accepted just before close() runs its handler after it (its body or guards were still under way):
      // each item gets the 503 a request of its own would get at that moment, instead of the batch a 500.
      (error: unknown): ItemAnswer => {
        if ((error as { code?: unknown }).code !== INJECT_WHILE_CLOSING) throw error;
        return { result: unavailable(item, id, `Shutting down; retry in ${UNAVAILABLE_RETRY_AFTER_S} s`) };
      },
    );
    try {
      return await Promise.race([answered, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The 503 of an item that got no answer: what ProblemDetailsFilter would have answered it alone, Retry-After too. */
function unavailable(item: BatchItemDto, id: string, detail: string): BatchItemResultDto {
  const body = genericProblem({ url: item.path, id }, 503, detail);
  return { status: 503, body, headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_S) } };
}

function keptHeaders(headers: OutgoingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    BATCH_ITEM_HEADERS.flatMap((name) => {
      const value = headers[name];
      return typeof value === 'string' || typeof value === 'number' ? [[name, String(value)]] : [];
    }),
  );
}
