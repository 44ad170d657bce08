import { Transform } from 'class-transformer';

// A JSON number's exponent included: clients print small numbers with one (JavaScript's String(0.0000001) is "1e-7",
// Java's Double.toString(-0.0005) "-5.0E-4", Python's str(0.00001) "1e-05"), and OpenAPI's `type: number` allows it.
const DECIMAL = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
const INTEGER = /^-?\d+$/;

/**
 * Converts a query string value to a number only when it is written as a decimal (`52.5`, `-13`, `5.0E-4`), or as a
 * plain integer with `{ integer: true }`. Anything else is left as it came, so the number check that follows refuses
 * it: Number() would read `''` and `' '` as 0, `0x10` as 16, and `1e2` as the integer 100.
 */
export function QueryNumber(options: { integer?: boolean } = {}): PropertyDecorator {
  const form = options.integer ? INTEGER : DECIMAL;
  return Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && form.test(value) ? Number(value) : value,
  );
}
