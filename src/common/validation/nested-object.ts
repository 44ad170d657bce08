import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsObject, ValidateNested } from 'class-validator';

/**
 * One nested object of `type`. ValidateNested on its own passes a missing value and checks an array element by
 * element, so `[{...}]` or nothing at all would reach the service as valid; IsObject refuses both (and null). With
 * `each`, every item of a list, where ValidateNested would check a list inside the list element by element.
 */
export function NestedObject(type: () => new () => object, options: { each?: boolean } = {}): PropertyDecorator {
  return applyDecorators(IsObject(options), ValidateNested(options), Type(type));
}
