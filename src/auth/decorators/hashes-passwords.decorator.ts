import {
  applyDecorators,
  Injectable,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { ApiServiceUnavailableResponse } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { catchError, throwError, type Observable } from 'rxjs';
import { ProblemResponseDto, RETRY_AFTER_HEADER } from '../../common/problem/problem-response.dto.js';
import { markPasswordUnchecked } from '../../throttling/failed-login-hits.js';
import { PasswordHashingAbandonedException, PasswordHashingBusyException } from '../password-hashing-admission.js';

/**
 * A refusal of the hashing bound checked no password, nor did a request that left its queue (its client gave up while
 * it waited): the rate limiter gives the attempt's failed-login hits back. Kept, a member whose client timed out twice
 * during a burst was refused their next, correct login for the whole window.
 */
@Injectable()
class PasswordRefusalInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) => {
        if (error instanceof PasswordHashingBusyException || error instanceof PasswordHashingAbandonedException) {
          markPasswordUnchecked(context.switchToHttp().getRequest<FastifyRequest>());
        }
        return throwError(() => error);
      }),
    );
  }
}

/**
 * A route that hashes or checks a password (register, login, password change), within PASSWORD_HASH_CONCURRENCY: its
 * quick 503 is documented (in place of the generic one the OpenAPI setup gives every route), and does not count as a
 * wrong password.
 */
export const HashesPasswords = () =>
  applyDecorators(
    UseInterceptors(PasswordRefusalInterceptor),
    ApiServiceUnavailableResponse({
      type: ProblemResponseDto,
      description:
        'Too many password checks at once on this instance (PASSWORD_HASH_QUEUE_LIMIT waiting, or none started ' +
        'within PASSWORD_HASH_MAX_WAIT_MS), answered at once; or, as on every route, no answer within the deadline, ' +
        'the database unreachable, or the instance overloaded: retry after the Retry-After header (seconds)',
      headers: RETRY_AFTER_HEADER,
    }),
  );
