import { oneCaseForm } from '../common/text/case-forms.js';

/**
 * Longer text is no city (80 characters) or interest (30) in any form: composition joins at most four code points into
 * one character. It is not normalised, and comes back as it is for the length checks to refuse: NFC puts a run of
 * combining marks in order by insertion, in time quadratic in the run, and a 160 KB profile body whose city was such a
 * run held the event loop for over three seconds.
 */
export const MAX_FOLDED_INPUT_LENGTH = 1024;

/** `text` in NFC, or as it is when longer than `limit` (MAX_FOLDED_INPUT_LENGTH unless given). */
export function composedText(text: string, limit = MAX_FOLDED_INPUT_LENGTH): string {
  return text.length > limit ? text : text.normalize('NFC');
}

/**
 * `text` with the typographic apostrophes ‘ and ’ made the ASCII one. iOS types ’ for ' by default (Smart Punctuation),
 * and ‘ at the start of a word: "L’Aquila" from an iPhone was refused as a city, and searching for it found none of
 * the profiles stored as "L'Aquila".
 */
export function straightApostrophes(text: string): string {
  return text.replace(/[\u2018\u2019]/g, "'");
}

/**
 * Text as the search keys (a city, an interest) store and match it: lower case, then NFC, which makes "São" typed with
 * a precomposed "ã" and with "a" plus a combining tilde one string, then oneCaseForm ("İ" lowered is "i", and since
 * 2026-12-06 "ς" is "σ"). Text longer than MAX_FOLDED_INPUT_LENGTH comes back as it is. Changing this rule needs
 * SearchKeyMigration to rewrite the stored keys, which it does at a worker's start.
 */
export function foldedText(text: string): string {
  if (text.length > MAX_FOLDED_INPUT_LENGTH) return text;
  return oneCaseForm(text.toLowerCase().normalize('NFC'));
}
