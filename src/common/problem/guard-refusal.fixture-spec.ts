import { BadRequestException, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import { expect } from 'vitest';
import type { FieldError } from './problem-details.js';

/**
 * For the specs of the global input guards: runs `guard` on `request` as a call of `controller`'s `handler`, and gives
 * the `errors` of its 400, or undefined when it lets the request through. (Not a spec itself: no `.spec.ts` ending.)
 */
export function guardRefusal<T extends object>(
  guard: CanActivate,
  controller: Type<T>,
  handler: keyof T,
  request: object,
): FieldError[] | undefined {
  const context = {
    switchToHttp: () => ({ getRequest: () => request }),
    getClass: () => controller,
    getHandler: () => (controller.prototype as T)[handler],
  } as unknown as ExecutionContext;
  try {
    expect(guard.canActivate(context)).toBe(true);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return ((error as BadRequestException).getResponse() as { errors: FieldError[] }).errors;
  }
}
