import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';
import { Types } from 'mongoose';

/** Route ids are 24 hex characters; anything else is a 400, never a CastError 500. */
@Injectable()
export class ParseObjectIdPipe implements PipeTransform<string, Types.ObjectId> {
  transform(value: string): Types.ObjectId {
    if (!/^[0-9a-f]{24}$/i.test(value)) throw new BadRequestException('id must be a 24-character hexadecimal ObjectId');
    return new Types.ObjectId(value);
  }
}
