import { foldedText, MAX_FOLDED_INPUT_LENGTH } from '../folded-text.js';

/**
 * An interest as it is stored and matched: trimmed, each run of spaces one space, its full-width and half-width forms
 * as their usual letters (NFKC), and folded as cities are (foldedText), so each spelling of a tag is one string and a
 * search finds every profile that has it: accents precomposed or not, "İ" from a Turkish keyboard or "I" from another,
 * "ｈｉｋｉｎｇ" and "ﾃﾆｽ" as Japanese and Chinese input methods type them, "rock  climbing" with a doubled space.
 * Only those forms: NFKC of the whole tag would also change what makes a different spelling ("½" is "1⁄2", with a
 * fraction slash no tag may hold; an isolated Arabic vowel sign becomes a space and a mark). Unlike a city's key, the
 * tag is what a profile shows, so it keeps "ß" (Swiss German writes "ss") and the zero-width joiners of Persian and
 * Indic words. A tag whose width forms make no tag keeps its own.
 */
export function normaliseInterest(tag: string): string {
  const folded = foldedText(singleSpaced(tag));
  if (tag.length > MAX_FOLDED_INPUT_LENGTH) return folded;
  // Folded and checked a second time only when it has width forms: most tags have none.
  const widened = tag.replace(WIDTH_FORMS, (run) => run.normalize('NFKC'));
  if (widened === tag) return folded;
  const compatible = foldedText(singleSpaced(widened));
  return INTEREST_TAG.test(compatible) ? compatible : folded;
}

/** Unicode's Halfwidth and Fullwidth Forms block. */
const WIDTH_FORMS = /[\uff01-\uffee]+/g;

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
