import { ValidateIf } from 'class-validator';

/**
 * The field may be left out, but a `null` is validated like any other value (and so refused by the type check).
 * class-validator's IsOptional skips null as well, and a null that gets through is stored as is: `updateOne` runs no
 * schema validators.
 */
export const OptionalNotNull = (): PropertyDecorator =>
  ValidateIf((_object: unknown, value: unknown) => value !== undefined);
