import { randomBytes } from 'node:crypto';

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
