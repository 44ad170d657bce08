/**
 * Lower-cased text with the letters lower case alone leaves in two forms made one, as Unicode's case folding makes
 * them: the Greek final sigma "ς" as "σ" (toLowerCase gives "ς" for a capital Σ at a word's end and "σ" elsewhere, so
 * "ΒΟΛΟΣ" was not the capitals of "βολοσ"), and "i" with a combining dot above, the Turkish capital "İ" lowered, as
 * "i" (so "İstanbul" from a Turkish keyboard and "Istanbul" from any other are one).
 */
export function oneCaseForm(lowered: string): string {
  return lowered.replace(/\u03c2/g, '\u03c3').replace(/i\u0307/g, 'i');
}
