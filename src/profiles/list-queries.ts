import type { AdvancedSearchQuery } from './dto/advanced-search.query.js';
import type { NearbyQuery } from './dto/nearby.query.js';
import { Types } from 'mongoose';
import { decodeCursor, encodeCursor, isCurrentCursor, pageScope } from './cursor.js';
import { foldedText, MAX_FOLDED_INPUT_LENGTH, straightApostrophes } from './folded-text.js';
import { searchOrigin } from './geo.js';
import type { Gender } from './profile.schema.js';

const DEFAULT_PAGE = 20;
const DEFAULT_RADIUS_KM = 10;

/**
 * What a search filters on, in one form however the query spelled it: parameters in any order, a city in any case or
 * spacing, interests repeated or reordered, the default page size given or not. The list cache keys pages by this
 * object's JSON, so equivalent queries share one page; its fields are set in a fixed order for that reason.
 */
export interface SearchFilters {
  cityKey?: string;
  country?: string;
  gender?: Gender;
  minAge?: number;
  maxAge?: number;
  /** Sorted, without repeats. */
  interests?: string[];
  interestsAll?: string[];
  minViews?: number;
  cursor?: string;
  limit: number;
  /**
   * With minAge or maxAge, the UTC day (YYYY-MM-DD) the ages are counted on. Part of the cache key: a page cached just
   * before midnight answered after it (until 2026-12-06) with members who had since left the age range.
   */
  ageDay?: string;
}

/** A nearby search from the point on searchOrigin's grid, with its defaults filled in (and so its cache key). */
export type NearbyArea = Required<NearbyQuery>;

/** Which fields a client shows is left out: it does not change which profiles match. */
export function searchFilters(query: AdvancedSearchQuery, now = new Date()): SearchFilters {
  const byAge = query.minAge !== undefined || query.maxAge !== undefined;
  const matching = {
    // A city of blanks (which SearchProfilesQuery refuses), like an empty cursor, filters nothing.
    cityKey: cityKeyOf(query.city ?? '') || undefined,
    country: query.country,
    gender: query.gender,
    minAge: query.minAge,
    maxAge: query.maxAge,
    interests: distinctSorted(query.interests),
    interestsAll: distinctSorted(query.interestsAll),
    minViews: query.minViews,
  };
  return {
    ...matching,
    // In the one spelling this API issues: base64url decoding skips what is not base64url, and JSON takes any fields
    // beside the id, so one page had endless cursors, and cache keys, apart from it. A cursor that is not one, or one
    // of another list or other filters, is a 400.
    cursor: query.cursor ? canonicalCursor(query.cursor, searchScope(matching)) : undefined,
    limit: query.limit ?? DEFAULT_PAGE,
    ageDay: byAge ? now.toISOString().slice(0, 10) : undefined,
  };
}

/**
 * What a search's cursors are bound to: its filters, not the page size nor the day ages are counted on (a walk across
 * midnight goes on). The public and the premium search share it: with the same filters they list the same profiles.
 */
export function searchScope({ cursor: _cursor, limit: _limit, ageDay: _ageDay, ...matching }: Partial<SearchFilters>) {
  return pageScope('profiles', matching);
}

function canonicalCursor(cursor: string, scope: string): string {
  return encodeCursor(decodeCursor(cursor, scope), scope);
}

/**
 * The next-page cursor of a cached page (`ids`, of the search `filters`) in the form this version accepts. Pages
 * cached by versions before 2026-12-06 hold v1 cursors, which name no list and are refused: served from Redis during a
 * rolling deploy (for SEARCH_TTL_S), the client's next page was a 400. A cursor is the page's last id: issued again.
 */
export function currentCursor(cursor: string, ids: readonly string[], filters: SearchFilters): string {
  return isCurrentCursor(cursor) ? cursor : encodeCursor(new Types.ObjectId(ids.at(-1)), searchScope(filters));
}

export function nearbyArea(query: NearbyQuery): NearbyArea {
  const { lat, lng } = searchOrigin(query.lat, query.lng);
  return { lat, lng, radiusKm: query.radiusKm ?? DEFAULT_RADIUS_KM, limit: query.limit ?? DEFAULT_PAGE };
}

/**
 * How cities are compared: stored with each profile and matched against a search's city (see foldedText). Stored
 * cities hold only ASCII apostrophes (LocationDto), so a search typed with typographic ones is given those. The key is
 * of the city's NFKC form, as emails are: a Japanese or Chinese keyboard in full-width mode types "Ｍｕｎｉｃｈ", which
 * until 2026-12-07 was a city apart from "Munich" (half-width katakana, ligatures such as "ﬁ" and Arabic presentation
 * forms likewise). The city itself is stored and shown as typed. Text too long to be a city is left as it is.
 *
 * Two letters are not what their capitals lower-case to: "Gießen" in capitals is "GIESSEN" (as the Swiss write it,
 * "Giessen"), and "Aydın" is "AYDIN"; until 2026-12-07 each was a city apart from its capitals, and a search typed in
 * capitals missed it. The key, which nobody reads, has "ß" as "ss" (Unicode's full case folding) and the dotless "ı"
 * as "i", as the dotted capital "İ" already is. Interests keep both letters, since they are shown as stored.
 *
 * Zero-width (non-)joiners change how letters are drawn, not which they are, and many writers leave them out: the key
 * has none, so "خرم‌آباد" typed with a ZWNJ and without one are one city.
 */
export function cityKeyOf(city: string): string {
  const compatible = city.length > MAX_FOLDED_INPUT_LENGTH ? city : city.normalize('NFKC');
  const spaced = straightApostrophes(compatible)
    .replace(/[\u200C\u200D]/g, '')
    .trim()
    .replace(/\s+/g, ' ');
  return foldedText(spaced)
    .replace(/\u00df/g, 'ss')
    .replace(/\u0131/g, 'i');
}

/** An empty list filters nothing, as no list does. */
function distinctSorted(values: readonly string[] | undefined): string[] | undefined {
  return values?.length ? [...new Set(values)].sort() : undefined;
}
