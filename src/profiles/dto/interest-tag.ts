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
 * Zero-width (non-)joiners are spelling in Persian ("کتاب‌خوانی", book reading) and Indic scripts, and count too;
 * IsPlainText takes them only between letters. The ZWJ is outside the class, where it would read as joining its
 * neighbours into one character.
 */
export const INTEREST_TAG = /^[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}\u200C &+-]|\u200D){1,29}$/u;
