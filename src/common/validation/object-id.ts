import { buildMessage, ValidateBy, type ValidationOptions } from 'class-validator';
import { isObjectIdHex } from '../../database/object-id.js';

/**
 * An ObjectId in a body, after `lowerCaseIds`: 24 hexadecimal characters and nothing else. class-validator's
 * `IsMongoId` also passes `0x` or `0h` and 22 digits (validator.js reads them as hexadecimal), which the driver then
 * refuses with an error that became a 500.
 */
export function IsObjectId(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isObjectId',
      validator: {
        validate: (value: unknown) => isObjectIdHex(value),
        defaultMessage: buildMessage((each) => `${each}$property must be a 24-character hexadecimal ObjectId`, options),
      },
    },
    options,
  );
}
