import { domainToASCII } from 'node:url';

/**
 * The one form an email is stored and compared in, so that variants a person would read as the same address are one
 * account: trimmed; NFKC (composed accents, full-width letters as ASCII); lower case; an internationalised domain in
 * its ASCII (punycode) form, which is what mail servers resolve.
 */
export function normaliseEmail(email: string): string {
  const lowered = email.trim().normalize('NFKC').toLowerCase();
  const at = lowered.lastIndexOf('@');
  if (at === -1) return lowered;
  // An empty result means the domain is not valid; the email validator then refuses the address as it stands.
  const domain = domainToASCII(lowered.slice(at + 1));
  return domain ? `${lowered.slice(0, at + 1)}${domain}` : lowered;
}

/** Invisible characters (zero-width spaces and joiners, controls) would make look-alike accounts. */
export const INVISIBLE_CHARACTERS = /[\p{Cf}\p{Cc}]/u;
