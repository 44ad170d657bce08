/**
 * An interest as it is stored and matched: trimmed and lower case, then NFC. Lower-casing can leave a letter and a
 * combining mark ("İ" becomes "i" and U+0307), and clients send accented letters precomposed or as a letter and a
 * combining mark; after NFC each spelling of a tag is one string, so a search finds every profile that has it.
 */
export function normaliseInterest(tag: string): string {
  return tag.trim().toLowerCase().normalize('NFC');
}

/**
 * A letter or digit (with any combining marks, which some scripts need for every vowel), then letters, digits,
 * marks, spaces and `&+-`. Marks count towards the 30 code points, so they cannot stretch a tag past its length.
 */
export const INTEREST_TAG = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} &+-]{1,29}$/u;
