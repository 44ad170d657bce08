import { Logger } from '@nestjs/common';
import { Types, type QueryFilter } from 'mongoose';
import { parseCalendarDate } from '../common/validation/calendar-date.js';
import { GENDERS, VISIBILITIES, type Profile } from './profile.schema.js';
import type { ProfileRecord } from './profiles.repository.js';

const logger = new Logger('StoredProfile');

/**
 * An ISO 8601 date and time with no offset and no Z, or its SQL form with a space for the T (which JavaScript reads
 * in the server's time zone too): the date part is group 1.
 */
const ZONELESS_DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/;

/**
 * The one parse of a stored profile, at the repository's boundary (as stored-subscription.ts does for subscriptions).
 * A lean read casts nothing, so a hand edit or a bad import inserted past mongoose reaches the API as stored. Two
 * values no version wrote cannot be served as they are, and are read as the safe value instead, logged with the id for
 * support to repair:
 * - a birth date that is no date (a string or number that does not parse): read as unknown, no age. Mapping it threw,
 *   which failed the profile's every read, and every list page and cache warm that held it, for everyone.
 * - a visibility this version does not know, or none: read as hidden, as the lists already treat it (they match only
 *   public). Everyone else was shown it, though its owner may have meant to hide it (with none, until 2026-12-07, by
 *   id only: lists and batch reads left it out); the owner can still read and fix it.
 * A birth date stored as a parseable string or number (an older import) reads as that date.
 *
 * The fields a response shows are read as the types the OpenAPI document gives them (readShownFields): served as
 * stored, one profile with a number for a name, or a string for a list, broke a generated client's decoding of every
 * list page that held it, for everyone.
 */
export function readStoredProfile<T extends Partial<ProfileRecord> | null>(stored: T): T {
  if (!stored) return stored;
  const problems = [...readBirthDate(stored), ...readShownFields(stored)];
  if (!(VISIBILITIES as readonly unknown[]).includes(stored.visibility)) {
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
 * The date a stored birth date names: a date, or a parseable string or number (an older import); undefined for
 * anything else. SearchKeyMigration stores the dates it reads, so that the age search finds what the profile shows.
 */
export function storedBirthDate(birthDate: unknown): Date | undefined {
  // JavaScript reads a date and time without a zone in the server's time zone: east of UTC, "2000-05-01T00:00:00" was
  // 30 April, and the age and birth date shown changed with TZ. Such a value names its day, read as UTC midnight.
  const zoneless = typeof birthDate === 'string' ? ZONELESS_DATE_TIME.exec(birthDate) : null;
  const parsed = zoneless
    ? parseCalendarDate(zoneless[1])
    : birthDate instanceof Date || typeof birthDate === 'string' || typeof birthDate === 'number'
      ? new Date(birthDate)
      : undefined;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed : undefined;
}

/** Reads the birth date in place: a parseable string or number as its date, anything else as unknown (removed). */
function readBirthDate(stored: Partial<ProfileRecord>): string[] {
  const birthDate: unknown = stored.birthDate;
  if (birthDate === undefined) return [];
  const parsed = storedBirthDate(birthDate);
  if (parsed) {
    if (!(birthDate instanceof Date)) stored.birthDate = parsed;
    return [];
  }
  delete stored.birthDate;
  // Its type, never its value: a date in a form JavaScript does not read ("13/05/1990") is still the member's birth
  // date, which only they and admins see (decision 0010). Until 2026-12-07 the line held it as stored.
  const shown = birthDate instanceof Date ? 'an invalid date' : kindOf(birthDate);
  return [`birthDate is ${shown}, not a date: read as unknown`];
}

/** What a value is, without what it holds, for a log line: "text", "a number", "an object", "null". */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'text';
  return /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`;
}

/** Location fields a log line may show: those anyone sees (city, country) and the search key made of the city. */
const LOGGED_LOCATION_FIELDS = new Set(['city', 'country', 'cityKey']);

/**
 * A field's stored or read value as a repair line shows it. A location's other fields (the exact coordinates, usually
 * a home, and the cell made of them) show only their kind, as does a location that is no object: both are as private
 * as the coordinates a nearby search is logged without (loggable-url.ts). Until 2026-12-07 every read of a profile
 * whose coordinates an import stored as text logged them.
 */
function loggable(field: string, value: unknown): string {
  if (field !== 'location' || value === undefined) return JSON.stringify(value) ?? 'absent';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return kindOf(value);
  const shown = Object.entries(value as Record<string, unknown>).map(([key, item]): [string, unknown] => [
    key,
    LOGGED_LOCATION_FIELDS.has(key) ? item : kindOf(item),
  ]);
  return JSON.stringify(Object.fromEntries(shown));
}

type Reader = (stored: unknown) => unknown;

/** Text: a number or a boolean in its place reads as its text, anything else (null, an object, a list) as absent. */
const readText: Reader = (stored) =>
  typeof stored === 'string'
    ? stored
    : typeof stored === 'number' || typeof stored === 'boolean'
      ? String(stored)
      : undefined;

/** A list of text: one text in its place reads as a list of it; items that are no text are left out. */
const readTexts =
  (allowed?: readonly string[]): Reader =>
  (stored) => {
    const items: unknown[] = Array.isArray(stored) ? stored : typeof stored === 'string' ? [stored] : [];
    const read = items.filter((item) => typeof item === 'string' && (!allowed || allowed.includes(item)));
    return read.length === items.length && items === stored ? stored : read;
  };

/** A coordinate: a number, or text that is one (an older import); anything else reads as absent. */
const readCoordinate: Reader = (stored) => {
  const read = typeof stored === 'string' && stored.trim() !== '' ? Number(stored) : stored;
  return typeof read === 'number' && Number.isFinite(read) ? read : undefined;
};

/**
 * A location keeps the fields search works by (cityKey, the cell), which the response does not show: the lists and
 * cache tags an update drops are found by them. City and country that are no text read as empty, which the response
 * requires.
 */
const readLocation: Reader = (stored) => {
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return undefined;
  const location = stored as Record<string, unknown>;
  const read = {
    ...location,
    city: readText(location.city) ?? '',
    country: readText(location.country) ?? '',
    lat: readCoordinate(location.lat),
    lng: readCoordinate(location.lng),
  };
  for (const field of ['lat', 'lng'] as const) if (read[field] === undefined) delete read[field];
  const same = (Object.keys(read) as (keyof typeof read)[]).every((field) => read[field] === location[field]);
  return same && Object.keys(read).length === Object.keys(location).length ? stored : read;
};

/** How each field a response shows is read; views: a whole number (`$inc` writes only those), anything else absent. */
const SHOWN_FIELDS: Record<string, Reader> = {
  displayName: readText,
  bio: readText,
  gender: (stored) => ((GENDERS as readonly unknown[]).includes(stored) ? stored : undefined),
  interestedIn: readTexts(GENDERS),
  interests: readTexts(),
  photoIds: readTexts(),
  location: readLocation,
  views: (stored) => (Number.isSafeInteger(stored) ? stored : undefined),
};

/** Reads the shown fields of `stored` in place (SHOWN_FIELDS); what each one that was changed was stored as. */
function readShownFields(stored: object): string[] {
  const fields = stored as Record<string, unknown>;
  const problems: string[] = [];
  for (const [field, read] of Object.entries(SHOWN_FIELDS)) {
    if (!(field in fields)) continue;
    const value = read(fields[field]);
    if (value === fields[field]) continue;
    problems.push(`${field} is ${loggable(field, fields[field])}: read as ${loggable(field, value)}`);
    if (value === undefined) delete fields[field];
    else fields[field] = value;
  }
  return problems;
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

/**
 * The rows of a list whose ids are ObjectIds, as the API writes them. An import without types (a CSV, or JSON without
 * $oid) stores an id as its hex text, which no route reads a profile by (a path's id is an ObjectId): listed, it failed
 * with a TypeError the list for everyone (search, nearby, popular) and every cache warm run, as popular is warmed. Left
 * out and logged for support to repair.
 */
export function withStoredIds<T extends { _id: unknown }>(rows: T[]): (T & { _id: Types.ObjectId })[] {
  return rows.filter((row): row is T & { _id: Types.ObjectId } => {
    if (row._id instanceof Types.ObjectId) return true;
    logger.warn(`Profile ${JSON.stringify(row._id)} needs repair: its id is no ObjectId; left out of the lists`);
    return false;
  });
}
