import { isISO31661Alpha2, ValidateBy } from 'class-validator';

/**
 * A country as ISO 3166-1 alpha-2 names it, or XK: Kosovo has no ISO code, and XK (from the user-assigned range) is
 * the one the EU, the app stores' and the map providers' geocoders give it, so a client filling the country in from
 * the phone's location sends XK there.
 */
export function IsCountryCode(): PropertyDecorator {
  return ValidateBy({
    name: 'isCountryCode',
    validator: {
      validate: (value: unknown) => value === 'XK' || isISO31661Alpha2(value),
      defaultMessage: (args) => `${args?.property ?? 'value'} must be an ISO 3166-1 alpha-2 country code (or XK)`,
    },
  });
}
