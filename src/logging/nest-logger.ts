import type { LoggerService } from '@nestjs/common';
import { Logger, PinoLogger } from 'nestjs-pino';
import type { Logger as Pino } from 'pino';
import { loggableError } from './loggable-error.js';

/**
 * Nest's Logger, writing through the root pino logger (nestjs-pino's formatting of messages, errors and contexts).
 *
 * Built here rather than through nestjs-pino's LoggerModule on purpose: that module also installs a middleware
 * that runs every request inside an AsyncLocalStorage context, and on Node 20 the first such context turns on
 * promise hooks for every promise in the process. Measured on a cached profile read, that cost about 20 % of the
 * CPU of the request (docs/performance.md). Without it, Nest's Logger does not add the request id by itself; code
 * that logs about a request logs the id explicitly (ProblemDetailsFilter, decision 0006).
 *
 * nestjs-pino writes through a pino-http child of the root logger, whose own `err` serializer replaces the root's:
 * it is given ours again, or an error's line would carry the documents a database error quotes.
 */
export function nestLogger(rootLogger: Pino): LoggerService {
  const params = { pinoHttp: { logger: rootLogger, serializers: { err: loggableError } }, useExisting: true } as const;
  return new Logger(new PinoLogger(params), params);
}
