import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { assertPlainInput } from './input-limits.js';

/**
 * The global ValidationPipe, limited to bodies and query strings. Path parameters have pipes of
 * their own (ParseObjectIdPipe), so the class-transformer and class-validator pass that
 * ValidationPipe makes on any parameter typed with a class (a type-only `Types.ObjectId` is emitted
 * as `Function`) did no checking, yet cost about 8 % of the CPU of a cached profile read.
 */
export class RequestValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (this.toValidate(metadata)) {
      if (metadata.type === 'body' && (value === null || value === undefined)) throw await this.notAnObject(metadata);
      assertPlainInput(value);
    }
    return super.transform(value, metadata);
  }

  protected override toValidate(metadata: ArgumentMetadata): boolean {
    return (metadata.type === 'body' || metadata.type === 'query') && super.toValidate(metadata);
  }

  /**
   * ValidationPipe validates a null or missing body as `{}`, which a DTO of optional fields passes: a PATCH of `null`
   * was a 200 that changed nothing (and counted as activity). It is refused as `[]` and `5` are, in the same words.
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
