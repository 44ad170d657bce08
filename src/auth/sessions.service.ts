import { Injectable } from '@nestjs/common';
import { Cacheable, CacheEvict } from '../cache/cache.decorators.js';
import { TieredCache } from '../cache/tiered-cache.js';
import { UsersRepository, type UserRecord } from '../users/users.repository.js';

/**
 * Each account's session version, cached in both tiers. Every write that ends sessions evicts it on every instance
 * through the cache's invalidation channel, so a logout reaches the other instances' memory within milliseconds.
 * The TTL bounds how long an instance that cannot hear the channel (Redis down) keeps accepting revoked tokens.
 */
export const SESSION_VERSION_CACHE = { name: 'session-version', key: (userId: string) => userId, ttlS: 60 };
const SESSION_VERSION_EVICTION = { name: SESSION_VERSION_CACHE.name, keys: (userId: string) => [userId] };

@Injectable()
export class SessionsService {
  constructor(
    private readonly users: UsersRepository,
    private readonly cache: TieredCache,
  ) {}

  /** The version this instance holds in memory, without waiting: undefined when it must be loaded (currentVersion). */
  cachedVersion(userId: string): number | null | undefined {
    return this.cache.peek<number | null>(SESSION_VERSION_CACHE.name, SESSION_VERSION_CACHE.key(userId));
  }

  /** Drops this instance's copy of the account's version, which a newer token showed to be behind. */
  forgetCachedVersion(userId: string): void {
    this.cache.forgetLocal(SESSION_VERSION_CACHE.name, SESSION_VERSION_CACHE.key(userId));
  }

  /** The account's session version; null when the account no longer exists. */
  @Cacheable(SESSION_VERSION_CACHE)
  currentVersion(userId: string): Promise<number | null> {
    return this.users.sessionVersion(userId);
  }

  /** Ends every session of the account: tokens issued before stop working on every instance. */
  @CacheEvict(SESSION_VERSION_EVICTION)
  endAll(userId: string): Promise<number | null> {
    return this.users.raiseSessionVersion(userId);
  }

  /** Stores a new password hash and ends every session (see UsersRepository.replacePassword). */
  @CacheEvict(SESSION_VERSION_EVICTION)
  replacePassword(userId: string, checkedHash: string, passwordHash: string): Promise<UserRecord | null> {
    return this.users.replacePassword(userId, checkedHash, passwordHash);
  }
}
