import { ValidateBy } from 'class-validator';

/**
 * The upper end of a range whose lower end is the parameter `lowerProperty` (`maxAge` after `minAge`): not below it.
 * An empty range matches nothing, so `minAge=30&maxAge=20` answered 200 with an empty list, which reads as "nobody
 * fits" rather than as the client's mistake. Either end missing or not a number passes: their own checks say why.
 */
export function IsNotBelow(lowerProperty: string): PropertyDecorator {
  const lowerOf = (object: object): unknown => (object as Record<string, unknown>)[lowerProperty];
  return ValidateBy({
    name: 'isNotBelow',
    constraints: [lowerProperty],
    validator: {
      validate: (value: unknown, args) => {
        const lower = args ? lowerOf(args.object) : undefined;
        return typeof value !== 'number' || typeof lower !== 'number' || value >= lower;
      },
      defaultMessage: (args) =>
        `${args?.property ?? 'value'} (${String(args?.value)}) must not be below ${lowerProperty} (${String(args ? lowerOf(args.object) : undefined)})`,
    },
  });
}
