import { domainToASCII } from 'node:url';

/**
 * Longer text is no address in any form (one has at most 254 characters once normalised; this leaves room for spaces
 * around it and accents typed as separate marks), and is not normalised: NFKC expands some characters 18-fold (U+FDFA),
 * so a login whose 1 MB body was such an "email" held the event loop for about a second, normalised by the rate limiter
 * and again by the validation, before the length check refused it.
 */
export const MAX_EMAIL_INPUT_LENGTH = 1024;

/**
 * The one form an email is stored and compared in, so that variants a person would read as the same address are one
 * account: trimmed; NFKC (composed accents, full-width letters as ASCII); lower case; an internationalised domain in
 * its ASCII (punycode) form, which is what mail servers resolve. Text longer than MAX_EMAIL_INPUT_LENGTH comes back as
 * it is, for the validator to refuse as too long.
 */
export function normaliseEmail(email: string): string {
  if (email.length > MAX_EMAIL_INPUT_LENGTH) return email;
  const lowered = email.trim().normalize('NFKC').toLowerCase();
  const at = lowered.lastIndexOf('@');
  if (at === -1) return lowered;
  // An empty result means the domain is not valid; the email validator then refuses the address as it stands.
  const domain = domainToASCII(lowered.slice(at + 1));
  return domain ? `${lowered.slice(0, at + 1)}${domain}` : lowered;
}

/** Invisible characters (zero-width spaces and joiners, controls) would make look-alike accounts. */
export const INVISIBLE_CHARACTERS = /[\p{Cf}\p{Cc}]/u;
