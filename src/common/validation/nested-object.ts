import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsObject, ValidateNested } from 'class-validator';

/**
 * One nested object of `type`. ValidateNested on its own passes a missing value and checks an array element by
 * element, so `[{...}]` or nothing at all would reach the service as valid; IsObject refuses both (and null).
 */
export function NestedObject(type: () => new () => object): PropertyDecorator {
  return applyDecorators(IsObject(), ValidateNested(), Type(type));
}
