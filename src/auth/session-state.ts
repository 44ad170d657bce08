import { randomBytes } from 'node:crypto';
import { isTextList } from '../common/text/text-list.js';

/** The session an access token belongs to, from its claims: what POST /v1/auth/logout ends. */
export interface TokenSession {
  /** Claim `sid`. Absent in tokens issued before sessions had ids: such a token's logout ends every session. */
  id?: string;
  /** Claim `sv`: the account's session version when the token was issued (absent = 0). */
  version: number;
  /** Claim `exp`, in milliseconds: from then on no instance accepts the token, ended or not. */
  expiresAtMs: number;
}

/** An account's sessions as the guard checks them (cache `account-sessions`); null when the account is gone. */
export interface AccountSessions {
  /** Raising it ends every session (logout-all, a password change, too many sessions ended one by one). */
  version: number;
  /** Ids of the sessions ended one by one under `version`, as long as their tokens may still be in use. */
  ended: string[];
}

/**
 * Whether a cached value is an account's sessions (or null, the account gone). Redis may hold another shape under the
 * key (a hand edit): read as one, its `ended` failed the check (a 500), or, being a string, admitted every ended
 * session. It is loaded again instead (WrapOptions.isValue), so the check fails closed.
 */
export function isAccountSessions(value: unknown): value is AccountSessions | null {
  if (value === null) return true;
  if (typeof value !== 'object') return false;
  const { version, ended } = value as Partial<Record<keyof AccountSessions, unknown>>;
  return Number.isSafeInteger(version) && isTextList(ended);
}

/** 128 random bits, base64url: unguessable, and 22 characters in the token and in each ended-session record. */
export const newSessionId = (): string => randomBytes(16).toString('base64url');

/** What the guard accepts as `sid`: base64url of at least 128 bits, bounded so a record stays small. */
export const isSessionId = (value: unknown): value is string =>
  typeof value === 'string' && /^[\w-]{22,64}$/.test(value);

/** Whether the account still admits the token's session: its version is current and it was not ended by itself. */
export function sessionIsLive(account: AccountSessions, session: TokenSession): boolean {
  if (session.version !== account.version) return false;
  return session.id === undefined || !account.ended.includes(session.id);
}
