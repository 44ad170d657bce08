import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { Types } from 'mongoose';
import { isObjectIdHex } from '../../database/object-id.js';
import { invalidField } from '../problem/validation-exception.factory.js';

/** An ObjectId as OpenAPI documents it, in a route or in a body (IsObjectId): 24 hexadecimal characters. */
export const OBJECT_ID_PATTERN = '^[0-9a-fA-F]{24}$';

/** Route ids are 24 hex characters; anything else is a 400, never a CastError 500. */
@Injectable()
export class ParseObjectIdPipe implements PipeTransform<string, Types.ObjectId> {
  transform(value: string, { data }: ArgumentMetadata): Types.ObjectId {
    // Either case: an id copied from elsewhere may be upper-case.
    if (!isObjectIdHex(value.toLowerCase())) {
      const field = data ?? 'id';
      throw invalidField(field, `${field} must be a 24-character hexadecimal ObjectId`);
    }
    return new Types.ObjectId(value);
  }
}

/**
 * The OpenAPI side of ParseObjectIdPipe for the `:id` parameter. Without `type: String`, Swagger takes the type from
 * the handler's decorator metadata (the ObjectId the pipe returns) and documents a `$ref` to an empty `Function`
 * schema beside the pattern.
 */
export const ApiObjectIdParam = (description: string) =>
  ApiParam({ name: 'id', type: String, schema: { type: 'string', pattern: OBJECT_ID_PATTERN }, description });
