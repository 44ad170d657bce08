import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import type { ValidationError, ValidatorOptions } from 'class-validator';
import { repeatedSingleValues } from '../query/repeated-query-params.js';
import { unknownPropertyError } from '../query/unknown-property-error.js';
import { ignoresUnknownFields } from '../validation/ignores-unknown-fields.js';
import { validationExceptionFactory } from '../problem/validation-exception.factory.js';
import { assertPlainInput } from './input-limits.js';

/**
 * The pipe every route's body and query go through (AppModule's APP_PIPE): unknown fields refused, values turned into
 * their DTO's types, failures answered as the validation problem.
 */
export function globalValidationPipe(): RequestValidationPipe {
  return new RequestValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: validationExceptionFactory,
  });
}

/**
 * The global ValidationPipe, limited to bodies and query strings. Path parameters have pipes of
 * their own (ParseObjectIdPipe), so the class-transformer and class-validator pass that
 * ValidationPipe makes on any parameter typed with a class (a type-only `Types.ObjectId` is emitted
 * as `Function`) did no checking, yet cost about 8 % of the CPU of a cached profile read.
 */
export class RequestValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (!this.toValidate(metadata)) return super.transform(value, metadata);
    if (metadata.type === 'body' && !isObjectBody(value)) throw await this.notAnObject(metadata);
    const tolerant = ignoresUnknownFields(metadata.metatype);
    // A tolerant body's text and lists are checked once its unknown fields are gone: a provider's event is not refused
    // (and redelivered for days) for a NUL, a cut emoji or a long list in a field this API drops unread.
    assertPlainInput(value, { text: !tolerant, lists: !tolerant });
    const inherited = inheritedNames(value, tolerant);
    if (inherited.length > 0) throw await this.exceptionFactory(inherited);
    const repeated =
      metadata.type === 'query' && metadata.metatype ? repeatedSingleValues(metadata.metatype, value) : [];
    if (repeated.length > 0) throw await this.exceptionFactory(repeated);
    const validated: unknown = await super.transform(value, metadata);
    if (tolerant) assertPlainInput(validated);
    return validated;
  }

  /** A body marked @IgnoresUnknownFields() has its unknown fields stripped (whitelist) rather than refused. */
  protected override validate(object: object, options?: ValidatorOptions): ReturnType<ValidationPipe['validate']> {
    const tolerant = ignoresUnknownFields(object.constructor);
    return super.validate(object, tolerant ? { ...options, forbidNonWhitelisted: false } : options);
  }

  protected override toValidate(metadata: ArgumentMetadata): boolean {
    return (metadata.type === 'body' || metadata.type === 'query') && super.toValidate(metadata);
  }

  /**
   * ValidationPipe validates a null or missing body as `{}`, which a DTO of optional fields passes: a PATCH of `null`
   * was a 200 that changed nothing (and counted as activity). An array or a scalar it refused in these words only when
   * the DTO's fields are all optional; with required ones it listed them ("email must be an email" for `[]`).
   */
  private notAnObject(metadata: ArgumentMetadata): unknown {
    return this.exceptionFactory([
      {
        property: metadata.data ?? metadata.type,
        constraints: { isObject: 'Validation failed (object is expected)' },
        children: [],
      },
    ]);
  }
}

/** A DTO (a class: toValidate leaves out Array, Object and the primitives' types) describes an object's fields. */
function isObjectBody(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Keys named after a member of Object.prototype (`constructor`, `toString`, `__proto__`, ...), at any depth, as the
 * whitelist's errors. class-validator's whitelist looks each key up in a plain object of the DTO's metadata, where
 * these are always found, so with forbidNonWhitelisted they passed in query strings and bodies. `prototype` too:
 * Nest's ValidationPipe deletes it before the whitelist runs, so it passed silently. No DTO declares one of these.
 * With `drop` (a body marked @IgnoresUnknownFields) they are deleted in place instead, in the same walk.
 */
function inheritedNames(value: unknown, drop: boolean, path = ''): ValidationError[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const property = path ? `${path}.${key}` : key;
    if (Array.isArray(value) || !isReservedName(key)) return inheritedNames(child, drop, property);
    if (drop) {
      delete (value as Record<string, unknown>)[key];
      return [];
    }
    return [unknownPropertyError(property)];
  });
}

function isReservedName(key: string): boolean {
  return key === 'prototype' || Object.hasOwn(Object.prototype, key);
}
