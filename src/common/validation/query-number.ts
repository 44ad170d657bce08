import { Transform } from 'class-transformer';

const DECIMAL = /^-?\d+(?:\.\d+)?$/;
const INTEGER = /^-?\d+$/;

/**
 * Converts a query string value to a number only when it is written as a plain decimal (`52.5`, `-13`), or as a plain
 * integer with `{ integer: true }`. Anything else is left as it came, so the number check that follows refuses it:
 * Number() would read `''` and `' '` as 0, `0x10` as 16 and `1e2` as 100.
 */
export function QueryNumber(options: { integer?: boolean } = {}): PropertyDecorator {
  const form = options.integer ? INTEGER : DECIMAL;
  return Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && form.test(value) ? Number(value) : value,
  );
}
