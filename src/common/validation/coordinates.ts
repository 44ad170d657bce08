import { ValidateBy } from 'class-validator';

/**
 * A finite number from -`limit` to `limit`, compared as a number. class-validator's IsLatitude and IsLongitude match
 * the number's string form against a decimal pattern, and String(0.0000001) is "1e-7": points a few centimetres from
 * the equator or the prime meridian were refused.
 */
function IsCoordinate(kind: 'latitude' | 'longitude', limit: number): PropertyDecorator {
  return ValidateBy({
    name: kind === 'latitude' ? 'isLatitude' : 'isLongitude',
    validator: {
      validate: (value: unknown) => typeof value === 'number' && Number.isFinite(value) && Math.abs(value) <= limit,
      defaultMessage: (args) => `${args?.property ?? 'value'} must be a ${kind}: a number from -${limit} to ${limit}`,
    },
  });
}

export const IsLatitudeNumber = (): PropertyDecorator => IsCoordinate('latitude', 90);
export const IsLongitudeNumber = (): PropertyDecorator => IsCoordinate('longitude', 180);
