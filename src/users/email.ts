import { domainToASCII } from 'node:url';
import { oneCaseForm } from '../common/text/case-forms.js';

/**
 * Longer text is no address in any form (one has at most 254 characters once normalised; this leaves room for spaces
 * around it and accents typed as separate marks), and is not normalised: NFKC expands some characters 18-fold (U+FDFA),
 * so a login whose 1 MB body was such an "email" held the event loop for about a second, normalised by the rate limiter
 * and again by the validation, before the length check refused it.
 */
export const MAX_EMAIL_INPUT_LENGTH = 1024;

/**
 * A quoted local part whose quotes change nothing: its text would be a valid local part without them (a dot-atom), so
 * mail servers deliver `"ann"@example.com` to `ann@example.com` (RFC 5321, 4.1.2). Letters and digits of any script,
 * as the validator takes them unquoted.
 */
const NEEDLESSLY_QUOTED = /^"([\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*)"$/u;

/**
 * The one form an email is stored and compared in, so that variants a person would read as the same address are one
 * account: trimmed; NFKC (composed accents, full-width letters as ASCII); lower case (composed again after: until
 * 2026-12-06 an address typed in capitals with "ǰ" or "ΰ", which have no precomposed capital, was a second account),
 * with the local part's "ς" and dotted "i" in one form (oneCaseForm: "ΝΙΚΟΣ" typed in capitals was a second account
 * until 2026-12-06); quotes that change nothing dropped from the local part (`"ann"@x.com` registered apart from
 * `ann@x.com` until 2026-12-05); an internationalised domain in its ASCII (punycode) form, which is what mail servers
 * resolve. Text longer than MAX_EMAIL_INPUT_LENGTH comes back as it is, for the validator to refuse as too long.
 */
export function normaliseEmail(email: string): string {
  if (email.length > MAX_EMAIL_INPUT_LENGTH) return email;
  // NFC again after lowering: a capital with no precomposed form ("ǰ" upper-cased) stays letter and accent apart.
  const lowered = email.trim().normalize('NFKC').toLowerCase().normalize('NFC');
  const at = lowered.lastIndexOf('@');
  if (at === -1) return lowered;
  // The domain is left to IDNA, where "ς" and "σ" name different domains.
  const quoted = oneCaseForm(lowered.slice(0, at));
  const local = NEEDLESSLY_QUOTED.exec(quoted)?.[1] ?? quoted;
  // An empty result means the domain is not valid; the email validator then refuses the address as it stands.
  const domain = domainToASCII(lowered.slice(at + 1));
  return `${local}@${domain || lowered.slice(at + 1)}`;
}

/**
 * Invisible characters would make look-alike accounts: controls, formatting (zero-width spaces and joiners) and the
 * other code points Unicode says to show as nothing (Default_Ignorable_Code_Point: variation selectors, the combining
 * grapheme joiner, Hangul fillers, which NFKC leaves invisible; "ann\uFE00@x.com" was an account apart from ann@x.com).
 */
export const INVISIBLE_CHARACTERS = /[\p{Cf}\p{Cc}\p{Default_Ignorable_Code_Point}]/u;
