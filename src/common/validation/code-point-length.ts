import { ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * How many code points `text` has: what OpenAPI's minLength and maxLength (JSON Schema) count. class-validator's Length
 * and MaxLength count a surrogate pair as one too, but an emoji's variation selector (U+FE0F in "❤️") as none, so a
 * display name of 50 such hearts, 100 code points, passed a documented maxLength of 50, and "A" with a selector, two,
 * failed its minLength of 2.
 */
const codePoints = (text: string): number => [...text].length;

/**
 * Replaces Length: a string of `min` to `max` code points. Named as Length's check, which OpenAPI's minLength and
 * maxLength describe (test/support/openapi-input-limits.ts holds the document to it).
 */
export const CodePointLength = (min: number, max: number, validationOptions?: ValidationOptions): PropertyDecorator =>
  ValidateBy(
    {
      name: 'isLength',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'string') return false;
          const length = codePoints(value);
          return length >= min && length <= max;
        },
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} must be ${min} to ${max} characters long (Unicode code points)`,
      },
    },
    validationOptions,
  );

/** Replaces MaxLength: a string of at most `max` code points. */
export const MaxCodePoints = (max: number, validationOptions?: ValidationOptions): PropertyDecorator =>
  ValidateBy(
    {
      name: 'maxLength',
      constraints: [max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && codePoints(value) <= max,
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} must be at most ${max} characters long (Unicode code points)`,
      },
    },
    validationOptions,
  );
