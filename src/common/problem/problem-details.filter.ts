import {
  Catch,
  HttpException,
  HttpStatus,
  Inject,
  Logger,
  MethodNotAllowedException,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { Counter, type Registry } from 'prom-client';
import { isClientClosed, isDatabaseUnavailable } from '../../database/mongo-errors.js';
import { allowedMethods } from '../../http/allowed-methods.js';
import { METRICS_REGISTRY } from '../../metrics/metrics.constants.js';
import { loggableUrl } from '../../logging/loggable-url.js';
import { recordFailure } from '../../http/request-failure.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  dropSuccessHeaders,
  genericProblem,
  PROBLEM_CONTENT_TYPE,
  problemInstance,
  statusTitle,
  UNAVAILABLE_RETRY_AFTER_S,
  type ProblemDetails,
} from './problem-details.js';

const SERVICE_UNAVAILABLE: number = HttpStatus.SERVICE_UNAVAILABLE;

/** Keys of Nest's default exception payload that the problem body replaces. */
const NEST_PAYLOAD_KEYS = new Set(['message', 'error', 'statusCode']);

/**
 * Renders every error as RFC 9457 problem+json: Nest exceptions, Fastify's own client errors
 * (malformed JSON, body too large, bad media type) and anything unexpected, which becomes a
 * 500 without internals while the stack goes to the log.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);
  private readonly errors: Counter<'class' | 'status_code'>;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    this.errors = new Counter({
      name: 'http_errors_total',
      help: 'Error replies by exception class (NotFoundException, MongoServerSelectionError, ...) and status',
      labelNames: ['class', 'status_code'],
      registers: [registry],
    });
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    let problem = this.toProblem(exception, request);
    const allowed = problem.status === 404 ? allowedMethods(request) : [];
    if (allowed.length > 0) {
      const detail = `${request.method} is not allowed here; allowed: ${allowed.join(', ')}`;
      problem = genericProblem(request, HttpStatus.METHOD_NOT_ALLOWED, detail);
    } else if (problem.status === 404 && request.is404) {
      // No route: the router's own words ("Cannot GET /x") name the method, so a HEAD's length differed from the GET's,
      // which RFC 9110 (section 9.3.2) asks them to share.
      problem = genericProblem(request, HttpStatus.NOT_FOUND, 'Nothing is served at this path');
    }

    if (problem.status >= 500 && problem.status !== SERVICE_UNAVAILABLE) {
      this.logger.error(
        { err: exception, requestId: request.id },
        `Unhandled error on ${request.method} ${loggableUrl(request.url)}`,
      );
    }
    // Class names come from code, not from input, so the label stays bounded. A 405 reaches this filter as the router's
    // NotFoundException; it is counted as what it answers (until 2026-12-04 it was class="NotFoundException").
    const errorClass =
      allowed.length > 0
        ? MethodNotAllowedException.name
        : exception instanceof Error
          ? exception.constructor.name
          : typeof exception;
    // The driver's messages name the server and what failed, and carry no input. Until 2026-12-05 each such failure
    // was a warning line of its own beside the request line: two lines per request refused in an outage.
    const failure = isDatabaseUnavailable(exception) ? `${errorClass}: ${(exception as Error).message}` : errorClass;
    // A handler failing after its request's deadline already answered it (request-deadlines.ts): its request line is
    // written already, so the failure is logged on its own (at debug: the 503 it came after is logged), not replied.
    if (reply.sent) {
      this.logger.debug({ requestId: request.id }, `Failed after its answer: ${failure}`);
      return;
    }
    if (problem.status >= 500) recordFailure(request, failure);
    this.errors.inc({ class: errorClass, status_code: problem.status });
    dropSuccessHeaders(reply);
    // Required on every 401 (RFC 9110, section 15.5.2): the API's one scheme.
    if (problem.status === 401) void reply.header('www-authenticate', 'Bearer');
    // Every 503 is a passing condition (a dependency down or slow, a lock held, shutting down): say when to retry.
    if (problem.status === SERVICE_UNAVAILABLE) void reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S));
    if (allowed.length > 0) void reply.header('allow', allowed.join(', '));
    void reply.status(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(problem);
  }

  private toProblem(exception: unknown, request: FastifyRequest): ProblemDetails {
    const base = { instance: problemInstance(request), requestId: String(request.id) };

    if (exception instanceof HttpException && exposesDetail(exception.getStatus())) {
      const status = exception.getStatus();
      const detail = fastifyDetail(exception);
      return { ...this.fromHttpException(exception, status), ...(detail && { detail }), ...base, status };
    }

    // Shutting down, not a bug: until 2026-12-05 each handler that outlived its deadline during a shutdown logged an
    // "Unhandled error" with its stack. Another instance answers the retry.
    if (isClientClosed(exception)) {
      return genericProblem(request, SERVICE_UNAVAILABLE, `Shutting down; retry in ${UNAVAILABLE_RETRY_AFTER_S} s`);
    }
    // An outage of a dependency, not a bug: 503 (with Retry-After, below) instead of a 500.
    if (isDatabaseUnavailable(exception)) {
      return genericProblem(request, SERVICE_UNAVAILABLE, 'The database is not answering; retry in a few seconds');
    }

    const clientStatus = clientErrorStatus(exception);
    if (clientStatus !== undefined) {
      return genericProblem(request, clientStatus, (exception as Error).message);
    }

    const status = exception instanceof HttpException ? exception.getStatus() : HttpStatus.INTERNAL_SERVER_ERROR;
    return genericProblem(request, status, 'An unexpected error occurred. Quote the requestId when reporting it.');
  }

  private fromHttpException(
    exception: HttpException,
    status: number,
  ): Pick<ProblemDetails, 'type' | 'title' | 'detail'> & Record<string, unknown> {
    const payload = exception.getResponse();
    const problem = { type: 'about:blank', title: statusTitle(status), detail: exception.message, status };
    if (typeof payload === 'string') return { ...problem, detail: payload };

    const extensions = Object.fromEntries(Object.entries(payload).filter(([key]) => !NEST_PAYLOAD_KEYS.has(key)));
    const message = (payload as { message?: unknown }).message;
    const detail = typeof message === 'string' ? message : Array.isArray(message) ? message.join('; ') : problem.detail;
    return { ...problem, detail, ...extensions };
  }
}

/**
 * Fastify's errors whose message only repeats their status's title (Nest's adapter makes them HttpExceptions with that
 * message, the error kept as the cause). FST_ERR_CTP_INVALID_MEDIA_TYPE answers a Content-Type that does not parse
 * (empty, a list, no subtype): until 2026-12-06 its detail was "Unsupported Media Type". A valid type of the wrong kind
 * gets the 415 of other-body-types.ts, which names it.
 */
const FASTIFY_DETAILS: Partial<Record<string, string>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE:
    'The Content-Type header is not a media type (type/subtype): request bodies are application/json, uploads ' +
    'multipart/form-data',
};

/** A detail of FASTIFY_DETAILS for a Fastify error that Nest's adapter wrapped in an HttpException (as its cause). */
function fastifyDetail(exception: HttpException): string | undefined {
  const code = (exception.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? FASTIFY_DETAILS[code] : undefined;
}

/** Client errors explain themselves; of the 5xx family only a deliberate 503 does (it names failing checks). */
function exposesDetail(status: number): boolean {
  return status < 500 || status === SERVICE_UNAVAILABLE;
}

/**
 * Fastify and its parsers reject bad requests with errors carrying a 4xx `statusCode`
 * (e.g. FST_ERR_CTP_BODY_TOO_LARGE, JSON SyntaxError). Those messages are written for clients.
 */
function clientErrorStatus(exception: unknown): number | undefined {
  if (!(exception instanceof Error)) return undefined;
  const status = (exception as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}
