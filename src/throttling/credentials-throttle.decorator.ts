import { SetMetadata } from '@nestjs/common';

export const CREDENTIALS_ROUTE = 'vesta:credentialsRoute';

/**
 * Puts a route that takes a password (login, register) under the strict credentials tier as well:
 * THROTTLE_CREDENTIALS_LIMIT per client address and THROTTLE_CREDENTIALS_ACCOUNT_LIMIT per email,
 * against credential stuffing and password guessing.
 */
export const CredentialsThrottle = (): MethodDecorator => SetMetadata(CREDENTIALS_ROUTE, true);
