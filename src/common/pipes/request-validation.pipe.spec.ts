import { BadRequestException, type ArgumentMetadata } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { IgnoresUnknownFields } from '../validation/ignores-unknown-fields.js';
import { NestedObject } from '../validation/nested-object.js';
import { describe, expect, it } from 'vitest';
import { globalValidationPipe } from './request-validation.pipe.js';

/** A body of optional fields only, like a PATCH: `{}` is a valid one. */
class PatchDto {
  @IsOptional()
  @IsString()
  name?: string;
}

/** A query of one single-value parameter and one that takes several. */
class ListQuery {
  @IsOptional()
  @IsString()
  @Length(1, 80)
  city?: string;

  @IsOptional()
  @IsIn(['a', 'b'], { each: true })
  tags?: string[];
}
const query: ArgumentMetadata = { type: 'query', metatype: ListQuery };

/** A body whose one field is normalised before it is checked, counting how often. */
class NormalisedDto {
  static normalised = 0;

  @Transform(({ value }: { value: unknown }) => {
    NormalisedDto.normalised++;
    return typeof value === 'string' ? value.normalize('NFC') : value;
  })
  @IsString()
  @Length(1, 80)
  city: string;
}

/** An item of a list, counting how many class-transformer makes. */
class CountedItemDto {
  static made = 0;
  constructor() {
    CountedItemDto.made++;
  }

  @IsString()
  path: string;
}

/** A body with a short list of objects, like a batch. */
class ShortListDto {
  @IsArray()
  @ArrayMaxSize(20)
  @NestedObject(() => CountedItemDto, { each: true })
  items: CountedItemDto[];
}

class EventDataDto {
  @IsString()
  userId: string;
}

/** A body written by someone else (a payment provider), who adds fields over time. */
@IgnoresUnknownFields()
class ProviderEventDto {
  @IsString()
  id: string;

  @NestedObject(() => EventDataDto)
  data: EventDataDto;
}

const pipe = globalValidationPipe();
const body: ArgumentMetadata = { type: 'body', metatype: PatchDto };

/** The field errors of the 400 the pipe answers, or undefined when it lets the value through. */
async function refusal(value: unknown, metadata = body): Promise<unknown> {
  try {
    await pipe.transform(value, metadata);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return ((error as BadRequestException).getResponse() as { errors: unknown }).errors;
  }
}

describe('RequestValidationPipe', () => {
  it('refuses a null or missing body as it refuses an array or a number, though {} would be valid', async () => {
    const notAnObject = [{ field: 'body', message: 'Validation failed (object is expected)' }];
    expect(await refusal([])).toEqual(notAnObject);
    expect(await refusal(5)).toEqual(notAnObject);
    expect(await refusal(null)).toEqual(notAnObject);
    expect(await refusal(undefined)).toEqual(notAnObject);
  });

  it('passes an object body, an empty one included', async () => {
    expect(await refusal({})).toBeUndefined();
    expect(await pipe.transform({ name: 'Ann' }, body)).toEqual({ name: 'Ann' });
  });

  it("refuses fields named after Object.prototype's members, which class-validator's whitelist lets through", async () => {
    expect(await refusal({ constructor: 'x', toString: 'x', name: 'Ann' })).toEqual([
      { field: 'constructor', message: 'property constructor should not exist' },
      { field: 'toString', message: 'property toString should not exist' },
    ]);
    expect(await refusal(JSON.parse('{"__proto__": 1}'))).toEqual([
      { field: '__proto__', message: 'property __proto__ should not exist' },
    ]);
    expect(await refusal({ nested: [{ valueOf: 1 }] })).toEqual([
      { field: 'nested.0.valueOf', message: 'property nested.0.valueOf should not exist' },
    ]);
    expect(await refusal({ hasOwnProperty: '1' }, { type: 'query', metatype: PatchDto })).toEqual([
      { field: 'hasOwnProperty', message: 'property hasOwnProperty should not exist' },
    ]);
  });

  it('leaves what it does not validate alone: path parameters, bodies without a class', async () => {
    expect(await refusal(undefined, { type: 'param', metatype: PatchDto, data: 'id' })).toBeUndefined();
    expect(await refusal(null, { type: 'body', metatype: Object })).toBeUndefined();
  });

  it('says plainly that a single-value query parameter was given more than once, and only that', async () => {
    expect(await refusal({ city: ['a', 'b'] }, query)).toEqual([
      { field: 'city', message: 'city takes one value but was given 2 times' },
    ]);
  });

  it('takes repeats of a parameter that takes several values, and leaves unknown repeated names to the whitelist', async () => {
    expect(await pipe.transform({ city: 'a', tags: ['a', 'b'] }, query)).toEqual({ city: 'a', tags: ['a', 'b'] });
    expect(await refusal({ other: ['a', 'b'] }, query)).toEqual([
      { field: 'other', message: 'property other should not exist' },
    ]);
  });

  it('drops the unknown fields of a body marked @IgnoresUnknownFields, at any depth, and validates the known ones', async () => {
    const event = { id: 'evt_1', livemode: true, data: { userId: 'u1', amount: 900, constructor: 1 }, toString: 2 };
    const provider: ArgumentMetadata = { type: 'body', metatype: ProviderEventDto };
    expect({ ...((await pipe.transform(event, provider)) as object) }).toEqual({ id: 'evt_1', data: { userId: 'u1' } });
    expect(await refusal({ id: 'evt_1', extra: 1, data: { userId: 5, more: 1 } }, provider)).toEqual([
      { field: 'data.userId', message: 'userId must be a string' },
    ]);
    // Every other body keeps the rule.
    expect(await refusal({ name: 'Ann', livemode: true })).toEqual([
      { field: 'livemode', message: 'property livemode should not exist' },
    ]);
  });

  it('refuses text that is not text only in the fields a tolerant body keeps', async () => {
    const provider: ArgumentMetadata = { type: 'body', metatype: ProviderEventDto };
    // A provider's note with a NUL, a name with half an emoji: dropped unread, so no reason to refuse the event.
    const event = { id: 'evt_1', note: 'A\u0000B', data: { userId: 'u1', customer: { name: 'Jos\ud83d' } } };
    expect({ ...((await pipe.transform(event, provider)) as object) }).toEqual({ id: 'evt_1', data: { userId: 'u1' } });
    await expect(pipe.transform({ id: 'evt\u0000', data: { userId: 'u1' } }, provider)).rejects.toThrow(
      'Text must not contain NUL characters',
    );
    await expect(pipe.transform({ id: 'evt_1', data: { userId: 'u\ud83d' } }, provider)).rejects.toThrow(
      'no unpaired surrogates',
    );
    // Every other body is checked whole, before validation.
    await expect(pipe.transform({ name: 'A\u0000B' }, body)).rejects.toThrow('Text must not contain NUL characters');
  });

  it('refuses text longer than any field takes before any transform or check reads it', async () => {
    // Normalised before Length refused it, a 160 KB city of combining marks held the event loop for 3 s (NFC is
    // quadratic in a run of them); the checks after it read such text several times over.
    NormalisedDto.normalised = 0;
    const city = `a${'\u0301\u0316'.repeat(10_000)}`;
    const normalised: ArgumentMetadata = { type: 'body', metatype: NormalisedDto };
    await expect(pipe.transform({ city }, normalised)).rejects.toThrow('Text holds at most 8192 UTF-16 code units');
    expect(NormalisedDto.normalised).toBe(0);
    expect(await pipe.transform({ city: 'Berlin' }, normalised)).toEqual({ city: 'Berlin' });
  });

  it('refuses a long list before making or validating its items, but not in the fields a tolerant body drops', async () => {
    // Made and validated one by one before ArrayMaxSize refused them, 3,300 batch requests held the event loop 100 ms.
    const items = Array.from({ length: 3_000 }, () => ({ path: '/v1/plans' }));
    CountedItemDto.made = 0;
    const list: ArgumentMetadata = { type: 'body', metatype: ShortListDto };
    await expect(pipe.transform({ items }, list)).rejects.toThrow('Lists hold at most 100 items');
    expect(CountedItemDto.made).toBe(0);
    const provider: ArgumentMetadata = { type: 'body', metatype: ProviderEventDto };
    const event = { id: 'evt_1', data: { userId: 'u1' }, lines: items };
    expect({ ...((await pipe.transform(event, provider)) as object) }).toEqual({ id: 'evt_1', data: { userId: 'u1' } });
  });
});
