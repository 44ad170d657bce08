import { randomInt } from 'node:crypto';

/** A city name no other test uses (letters only, as city names are validated). */
export function uniqueCity(): string {
  const letters = Array.from({ length: 10 }, () => String.fromCharCode(97 + randomInt(26))).join('');
  return `Testville ${letters}`;
}
