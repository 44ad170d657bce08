import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ProblemResponseDto, RETRY_AFTER_HEADER } from '../common/problem/problem-response.dto.js';

export const CREDENTIALS_ROUTE = 'vesta:credentialsRoute';

export interface CredentialsThrottleOptions {
  /**
   * Also limit failed password checks per account (the email a login names, else the caller's account):
   * THROTTLE_CREDENTIALS_ACCOUNT_LIMIT from one address and THROTTLE_CREDENTIALS_GLOBAL_LIMIT from all addresses.
   * Only attempts answered 401 or 403 (a wrong password) count.
   */
  failuresPerAccount?: boolean;
}

/**
 * Puts a route that takes a password (login, register, password change) under the strict credentials tier as well:
 * THROTTLE_CREDENTIALS_LIMIT per client address, against credential stuffing and password guessing.
 */
export const CredentialsThrottle = ({ failuresPerAccount = false }: CredentialsThrottleOptions = {}) =>
  applyDecorators(
    SetMetadata(CREDENTIALS_ROUTE, { failuresPerAccount } satisfies CredentialsThrottleOptions),
    ApiTooManyRequestsResponse({
      type: ProblemResponseDto,
      description:
        'Too many attempts from this address' +
        (failuresPerAccount ? ', or too many wrong passwords for this account (from this address, or from all)' : '') +
        '; retry after the Retry-After header (seconds)',
      headers: RETRY_AFTER_HEADER,
    }),
  );
