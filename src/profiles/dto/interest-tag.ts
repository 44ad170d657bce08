import { foldedText } from '../folded-text.js';

/**
 * An interest as it is stored and matched: trimmed and folded as cities are (foldedText), so each spelling of a tag,
 * accents precomposed or not, "İ" from a Turkish keyboard or "I" from another, is one string, and a search finds every
 * profile that has it.
 */
export function normaliseInterest(tag: string): string {
  return foldedText(tag.trim());
}

/**
 * A letter or digit (with any combining marks, which some scripts need for every vowel), then letters, digits,
 * marks, spaces and `&+-`. Marks count towards the 30 code points, so they cannot stretch a tag past its length.
 */
export const INTEREST_TAG = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} &+-]{1,29}$/u;
