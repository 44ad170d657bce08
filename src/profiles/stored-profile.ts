import { Logger } from '@nestjs/common';
import type { QueryFilter } from 'mongoose';
import { VISIBILITIES, type Profile } from './profile.schema.js';
import type { ProfileRecord } from './profiles.repository.js';

const logger = new Logger('StoredProfile');

/**
 * The one parse of a stored profile, at the repository's boundary (as stored-subscription.ts does for subscriptions).
 * A lean read casts nothing, so a hand edit or a bad import inserted past mongoose reaches the API as stored. Two
 * values no version wrote cannot be served as they are, and are read as the safe value instead, logged with the id for
 * support to repair:
 * - a birth date that is no date (a string or number that does not parse): read as unknown, no age. Mapping it threw,
 *   which failed the profile's every read, and every list page and cache warm that held it, for everyone.
 * - a visibility this version does not know: read as hidden, as the lists already treat it (they match only public).
 *   Everyone else was shown it, though its owner may have meant to hide it; the owner can still read and fix it.
 * A birth date stored as a parseable string or number (an older import) reads as that date.
 */
export function readStoredProfile<T extends Partial<ProfileRecord> | null>(stored: T): T {
  if (!stored) return stored;
  const problems: string[] = [];
  const birthDate: unknown = stored.birthDate;
  if (birthDate !== undefined && birthDate !== null && !(birthDate instanceof Date)) {
    const parsed = typeof birthDate === 'string' || typeof birthDate === 'number' ? new Date(birthDate) : undefined;
    if (parsed && !Number.isNaN(parsed.getTime())) stored.birthDate = parsed;
    else problems.push(`birthDate is ${JSON.stringify(birthDate)}, not a date: read as unknown`);
  }
  if (stored.birthDate instanceof Date && Number.isNaN(stored.birthDate.getTime())) {
    problems.push('birthDate is an invalid date: read as unknown');
  }
  if (problems.length > 0) delete stored.birthDate;
  if ('visibility' in stored && !(VISIBILITIES as readonly unknown[]).includes(stored.visibility)) {
    problems.push(
      `visibility is ${JSON.stringify(stored.visibility)}, not one of ${VISIBILITIES.join(', ')}: read as hidden`,
    );
    stored.visibility = 'hidden';
  }
  if (problems.length > 0) {
    logger.warn(`Profile ${String(stored._id)} needs repair: ${problems.join('; ')}`);
  }
  return stored;
}

/**
 * The profiles a view batch may add to: those whose count is a number, or missing (older than the field). `$inc` on
 * any other value (a string, null, an object: a hand edit) fails, and the batch, retried until it is written, then
 * failed on every flush, so that no view was counted for anyone again. Such profiles are left out and reported.
 */
// `number` matches every numeric type (a count can be a double, an int or a long); mongoose's types lack that alias.
export const COUNTABLE_VIEWS = [
  { views: { $type: 'number' } },
  { views: { $exists: false } },
] as unknown as QueryFilter<Profile>[];

/** Logs, with its id, a profile whose views a batch could not count (COUNTABLE_VIEWS). */
export function reportUncountable(profile: { _id: unknown; views?: unknown }, batchId: string): void {
  logger.warn(
    `Profile ${String(profile._id)} needs repair: views is ${JSON.stringify(profile.views)}, not a number; ` +
      `the views of batch ${batchId} were not counted on it`,
  );
}
