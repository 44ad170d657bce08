/**
 * Text as the search keys (a city, an interest) store and match it: lower case, then NFC, which makes "São" typed with
 * a precomposed "ã" and with "a" plus a combining tilde one string; and the Turkish capital "İ", which lowers to "i"
 * plus a combining dot, folded to "i", so "İstanbul" from a Turkish keyboard and "Istanbul" from any other are one.
 * Changing this rule needs SearchKeyMigration to rewrite the stored keys.
 */
export function foldedText(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFC')
    .replace(/i\u0307/g, 'i');
}
