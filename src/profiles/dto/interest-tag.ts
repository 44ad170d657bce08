import { foldedText, MAX_FOLDED_INPUT_LENGTH } from '../folded-text.js';

/**
 * An interest as it is stored and matched: trimmed, each run of spaces one space, in compatibility form (NFKC), and
 * folded as cities are (foldedText), so each spelling of a tag is one string and a search finds every profile that has
 * it: accents precomposed or not, "İ" from a Turkish keyboard or "I" from another, "ｈｉｋｉｎｇ" as a Japanese
 * or Chinese input method types Latin letters, "rock  climbing" with a doubled space. A tag whose compatibility form is
 * no tag ("½" is "1⁄2", with a fraction slash) keeps its own. Unlike a city's key, the tag is also what a profile
 * shows, so it keeps what would change its spelling rather than its form: "ß" (Swiss German writes "ss"), and the
 * zero-width joiners of Persian and Indic words.
 */
export function normaliseInterest(tag: string): string {
  const folded = foldedText(singleSpaced(tag));
  if (tag.length > MAX_FOLDED_INPUT_LENGTH) return folded;
  const compatible = foldedText(singleSpaced(tag.normalize('NFKC')));
  return INTEREST_TAG.test(compatible) ? compatible : folded;
}

function singleSpaced(tag: string): string {
  return tag.trim().replace(/ {2,}/g, ' ');
}

/**
 * A letter or digit (with any combining marks, which some scripts need for every vowel), then letters, digits,
 * marks, spaces and `&+-`. Marks count towards the 30 code points, so they cannot stretch a tag past its length.
 * Zero-width (non-)joiners are spelling in Persian ("کتاب‌خوانی", book reading) and Indic scripts, and count too;
 * IsPlainText takes them only between letters. The ZWJ is outside the class, where it would read as joining its
 * neighbours into one character.
 */
export const INTEREST_TAG = /^[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}\u200C &+-]|\u200D){1,29}$/u;
