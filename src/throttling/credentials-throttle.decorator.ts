import {
  applyDecorators,
  HttpException,
  Injectable,
  SetMetadata,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { catchError, tap, throwError, type Observable } from 'rxjs';
import { ProblemResponseDto, RETRY_AFTER_HEADER } from '../common/problem/problem-response.dto.js';
import { givesBackFailedLogins } from './failed-login-hits.js';
import { reportFailedLoginsGivenBack } from './rate-limit.guard.js';

export const CREDENTIALS_ROUTE = 'vesta:credentialsRoute';

export interface CredentialsThrottleOptions {
  /**
   * Also limit failed password checks per account (the email a login names, else the caller's account):
   * THROTTLE_CREDENTIALS_ACCOUNT_LIMIT from one address and THROTTLE_CREDENTIALS_GLOBAL_LIMIT from all addresses.
   * Only attempts answered 401 or 403 (a wrong password) count.
   */
  failuresPerAccount?: boolean;
}

/** An attempt that is no failed login (a success, a 400) says so in its RateLimit headers (see the guard's function). */
@Injectable()
class FailedLoginHeadersInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const resendHeaders = () =>
      reportFailedLoginsGivenBack(http.getRequest<FastifyRequest>(), http.getResponse<FastifyReply>());
    return next.handle().pipe(
      tap(resendHeaders),
      catchError((error: unknown) => {
        if (error instanceof HttpException && givesBackFailedLogins(error.getStatus())) resendHeaders();
        return throwError(() => error);
      }),
    );
  }
}

/**
 * Puts a route that takes a password (login, register, password change) under the strict credentials tier as well:
 * THROTTLE_CREDENTIALS_LIMIT per client address, against credential stuffing and password guessing.
 */
export const CredentialsThrottle = ({ failuresPerAccount = false }: CredentialsThrottleOptions = {}) =>
  applyDecorators(
    SetMetadata(CREDENTIALS_ROUTE, { failuresPerAccount } satisfies CredentialsThrottleOptions),
    ...(failuresPerAccount ? [UseInterceptors(FailedLoginHeadersInterceptor)] : []),
    ApiTooManyRequestsResponse({
      type: ProblemResponseDto,
      description:
        'Too many attempts from this address' +
        (failuresPerAccount ? ', or too many wrong passwords for this account (from this address, or from all)' : '') +
        '; retry after the Retry-After header (seconds)',
      headers: RETRY_AFTER_HEADER,
    }),
  );
