import type { ValidationError } from 'class-validator';

/**
 * The error class-validator's whitelist gives an undeclared property, in its words, for the checks that refuse one
 * themselves (UnknownQueryParamsGuard, RequestValidationPipe's inherited names): every route answers alike.
 */
export function unknownPropertyError(property: string): ValidationError {
  return { property, constraints: { whitelistValidation: `property ${property} should not exist` }, children: [] };
}
