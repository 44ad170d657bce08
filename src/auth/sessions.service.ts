import { Injectable, Logger } from '@nestjs/common';
import { Cacheable, CacheEvict } from '../cache/cache.decorators.js';
import { TieredCache } from '../cache/tiered-cache.js';
import { UsersRepository, type UserRecord } from '../users/users.repository.js';
import { EndedSessionsRepository } from './ended-sessions.repository.js';
import { isAccountSessions, type AccountSessions, type TokenSession } from './session-state.js';

/**
 * Each account's sessions as the guard checks them (version and ended ids), cached in both tiers. Every write that
 * ends sessions evicts the account's entry on every instance through the cache's invalidation channel, so a logout
 * reaches the other instances' memory within milliseconds. The TTL bounds how long an instance that cannot hear the
 * channel (Redis down) keeps accepting ended sessions; so no expired entry answers for a reload that fails or is slow
 * (maxGraceS: 0), which with Redis down and the database failing accepted ended sessions for CACHE_GRACE_S (1 h).
 */
export const ACCOUNT_SESSIONS_CACHE = {
  name: 'account-sessions',
  key: (userId: string) => userId,
  ttlS: 60,
  maxGraceS: 0,
  isValue: isAccountSessions,
};
const ACCOUNT_SESSIONS_EVICTION = { name: ACCOUNT_SESSIONS_CACHE.name, keys: (userId: string) => [userId] };
/**
 * The bare version, cached under this name by instances from before session ids, which still serve during the
 * rollout that brings them: they must hear of a raised version too. Remove once no such instance runs.
 */
const PREVIOUS_SESSION_VERSION_EVICTION = { name: 'session-version', keys: (userId: string) => [userId] };
const SESSIONS_EVICTIONS = [ACCOUNT_SESSIONS_EVICTION, PREVIOUS_SESSION_VERSION_EVICTION];

/**
 * Sessions ended one by one under one version, at most; one more raises the version instead (ending them all), so the
 * list each instance holds and checks per account stays small whatever a client does.
 */
export const MAX_ENDED_SESSIONS = 100;
/**
 * An ended session's record is kept (and checked) this long after its token's `exp`: the token is refused as expired
 * from then on, but by each instance's own clock, and a list loaded on an instance whose clock runs ahead is shared
 * with the others through Redis. Clocks that differ by more than this would let an ended token back in.
 */
export const ENDED_SESSION_KEPT_MS = 5 * 60_000;

/** Records whose tokens expired before this no longer matter: not loaded, not counted, purged. */
const stillInUseAfter = () => new Date(Date.now() - ENDED_SESSION_KEPT_MS);

@Injectable()
export class SessionsService {
  private readonly logger = new Logger(SessionsService.name);

  constructor(
    private readonly users: UsersRepository,
    private readonly endedSessions: EndedSessionsRepository,
    private readonly cache: TieredCache,
  ) {}

  /** The account's sessions as this instance holds them, without waiting: undefined when they must be loaded. */
  cached(userId: string): AccountSessions | null | undefined {
    return this.cache.peek<AccountSessions | null>(ACCOUNT_SESSIONS_CACHE.name, ACCOUNT_SESSIONS_CACHE.key(userId));
  }

  /** Drops this instance's copy of the account's sessions, which a newer token showed to be behind. */
  forgetCached(userId: string): void {
    this.cache.forgetLocal(ACCOUNT_SESSIONS_CACHE.name, ACCOUNT_SESSIONS_CACHE.key(userId));
  }

  /** The account's session version and the sessions ended under it; null when the account no longer exists. */
  @Cacheable(ACCOUNT_SESSIONS_CACHE)
  async current(userId: string): Promise<AccountSessions | null> {
    const version = await this.users.sessionVersion(userId);
    if (version === null) return null;
    return { version, ended: await this.endedSessions.ids(userId, version, stillInUseAfter()) };
  }

  /**
   * Ends one session: its token stops working on every instance, the account's other sessions go on. The session's
   * record goes in first and the count is taken after it, so whichever logout takes the count past
   * MAX_ENDED_SESSIONS sees it and raises the version, however many run at once.
   */
  @CacheEvict(...SESSIONS_EVICTIONS)
  async end(userId: string, session: Required<TokenSession>): Promise<void> {
    const { id, version, expiresAtMs } = session;
    await this.endedSessions.add(userId, { id, version, expiresAt: new Date(expiresAtMs) });
    if ((await this.endedSessions.count(userId, version, stillInUseAfter())) > MAX_ENDED_SESSIONS) {
      await this.users.raiseSessionVersion(userId);
    }
  }

  /** Ends every session of the account: tokens issued before stop working on every instance. */
  @CacheEvict(...SESSIONS_EVICTIONS)
  endAll(userId: string): Promise<number | null> {
    return this.users.raiseSessionVersion(userId);
  }

  /** Stores a new password hash and ends every session (see UsersRepository.replacePassword). */
  @CacheEvict(...SESSIONS_EVICTIONS)
  replacePassword(userId: string, checkedHash: string, passwordHash: string): Promise<UserRecord | null> {
    return this.users.replacePassword(userId, checkedHash, passwordHash);
  }

  /**
   * Deletes the records of sessions (of every account) whose tokens have expired: after each logout the collection
   * holds only the logouts of the last JWT_ACCESS_TTL_S plus ENDED_SESSION_KEPT_MS, without a scheduled job. A failure
   * is logged, not thrown: the logout it follows has taken effect, and the next one purges the same records.
   */
  async purgeExpired(): Promise<void> {
    try {
      await this.endedSessions.removeExpiredBefore(stillInUseAfter());
    } catch (error) {
      this.logger.warn(`Could not purge expired ended sessions: ${(error as Error).message}`);
    }
  }
}
