import { Inject, Module, type ExecutionContext, type OnApplicationShutdown } from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { ThrottlerModule, type ThrottlerOptions } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { AuthenticatedRequest } from '../auth/decorators/current-user.decorator.js';
import { routeMetadata } from '../common/metadata/route-metadata.js';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig, RateLimit } from '../config/app-config.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { METRICS_REGISTRY } from '../metrics/metrics.constants.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { closeRedisClient, createRedisClient } from '../redis/redis-client.factory.js';
import { normaliseEmail } from '../users/email.js';
import { UsersModule } from '../users/users.module.js';
import { UsersRepository } from '../users/users.repository.js';
import { clientAddress } from './client-address.js';
import { CREDENTIALS_ROUTE, type CredentialsThrottleOptions } from './credentials-throttle.decorator.js';
import { LocalThrottleCounts } from './local-throttle-counts.js';
import { RateLimitGuard, refusedAlready, UNREAD_TRACKER } from './rate-limit.guard.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';
import { SEARCH_ROUTE } from './search-throttle.decorator.js';

const THROTTLE_REDIS = Symbol('THROTTLE_REDIS');

/** Its own Redis connection; a check Redis does not answer within THROTTLE_REDIS_TIMEOUT_MS is counted in memory. */
@Module({
  imports: [MetricsModule],
  providers: [
    {
      provide: THROTTLE_REDIS,
      inject: [APP_CONFIG],
      useFactory: ({ redis }: AppConfig) => createRedisClient(redis),
    },
    {
      provide: RedisThrottlerStorage,
      inject: [THROTTLE_REDIS, METRICS_REGISTRY, APP_CONFIG],
      useFactory: (redis: Redis, registry: Registry, { throttle }: AppConfig) => {
        const evicted = new Counter({
          name: 'rate_limit_local_evictions_total',
          help: 'Clients whose in-memory rate-limit counts were forgotten to stay within THROTTLE_LOCAL_MAX_KEYS',
          registers: [registry],
        });
        return new RedisThrottlerStorage(
          redis,
          new LocalThrottleCounts(throttle.localMaxKeys, () => evicted.inc()),
          {
            rejected: new Counter({
              name: 'rate_limit_rejections_total',
              help: 'Requests answered 429 by the rate limiter, by tier',
              labelNames: ['throttler'],
              registers: [registry],
            }),
            countedLocally: new Counter({
              name: 'rate_limit_local_checks_total',
              help: "Rate-limit checks counted in this instance's memory because Redis did not answer in time",
              registers: [registry],
            }),
          },
          throttle.redisTimeoutMs,
        );
      },
    },
  ],
  exports: [RedisThrottlerStorage],
})
class RateLimitStorageModule implements OnApplicationShutdown {
  constructor(
    @Inject(THROTTLE_REDIS) private readonly redis: Redis,
    private readonly steps: ShutdownSteps,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.steps.close('Redis (rate limiting)', () => closeRedisClient(this.redis));
  }
}

const userOf = (request: FastifyRequest) => (request as AuthenticatedRequest).user;

/** The client address every per-address tier counts (without a port; IPv6 by /64). */
const addressOf = (request: FastifyRequest) => clientAddress(request.ip);

/** The account of a signed-in caller, else the address as the anonymous tier counts it. */
function callerOf(request: FastifyRequest): string {
  return userOf(request)?.id ?? addressOf(request);
}

const ACCOUNT = Symbol('rateLimitAccount');
type RequestWithAccount = FastifyRequest & { [ACCOUNT]?: Promise<string> };

const hashOf = (email: string) => createHash('sha256').update(email).digest('base64url');

/**
 * An account, as both failed-password tiers count it: the email a login names, normalised as accounts store it and
 * hashed so the Redis key stays bounded; on a route without one (a password change), the caller's account by its stored
 * email, hashed alike. A login and a password change of one account thus share one count: keyed apart (the change by
 * `id:<account id>` until 2026-12-06), a stolen token doubled the guesses at the password behind it, and an address
 * locked out of an account's login kept guessing through its password change. An account that cannot be read (gone,
 * or the database failing, when the change fails as well) counts under `id:<account id>`. The email comes first, so a
 * token of one's own does not move guesses at another account's password out of that account's count. Looked up once
 * per request, for both tiers, and not at all once another tier has refused the request (UNREAD_TRACKER).
 */
function accountOf(request: FastifyRequest, users: UsersRepository): Promise<string> {
  const tracked = request as RequestWithAccount;
  return (tracked[ACCOUNT] ??= lookUpAccount(request, users));
}

async function lookUpAccount(request: FastifyRequest, users: UsersRepository): Promise<string> {
  const email = (request.body as { email?: unknown } | undefined)?.email;
  const caller = userOf(request);
  if (typeof email === 'string' || !caller) return hashOf(typeof email === 'string' ? normaliseEmail(email) : '');
  if (refusedAlready(request)) return UNREAD_TRACKER;
  const account = await users.findById(caller.id).catch(() => null);
  return account ? hashOf(normaliseEmail(account.email)) : `id:${caller.id}`;
}

/**
 * Per email from one client address (as the other tiers count it, IPv6 grouped by /64): someone failing from their own
 * address locks only themself out of that account, not its owner (docs/decisions/0025).
 */
const accountFromAddressOf = async (request: FastifyRequest, users: UsersRepository) =>
  `${addressOf(request)}:${await accountOf(request, users)}`;

/**
 * Rate limits in named tiers, counted in Redis so every instance shares them (in each instance's memory while Redis
 * does not answer):
 * - `anonymous`: callers without a token, per client address (TRUST_PROXY decides when X-Forwarded-For counts);
 * - `user`: callers with a valid token, per account, with their own limit;
 * - `credentials`: routes marked @CredentialsThrottle() (login, register, password change), per address;
 * - `credentials-account` and `credentials-global`: failed password checks (@CredentialsThrottle({ failuresPerAccount
 *   })), per account from one address (strict) and per account from all addresses (high), checked after the tiers
 *   above (RateLimitGuard keeps this order), so that what those refuse writes no key per email; an attempt any tier
 *   refuses gives back its hits in these two;
 * - `search`: routes marked @SearchThrottle(), per account or, without a token, per address, on top of the above.
 * The guard runs after JwtAuthGuard (this module is imported after AuthModule), so it knows the caller.
 * Routes opt out with @NotRateLimited() (health, payment webhooks); /metrics is on its own server and never throttled.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [RateLimitStorageModule, UsersModule],
      inject: [APP_CONFIG, RedisThrottlerStorage, Reflector, UsersRepository],
      useFactory: (
        { throttle }: AppConfig,
        storage: RedisThrottlerStorage,
        reflector: Reflector,
        users: UsersRepository,
      ) => {
        const credentialsRoute = routeMetadata<Required<CredentialsThrottleOptions>>(reflector, CREDENTIALS_ROUTE);
        const isCredentialsRoute = (context: ExecutionContext) => credentialsRoute(context) !== undefined;
        const countsFailedLogins = (context: ExecutionContext) =>
          credentialsRoute(context)?.failuresPerAccount === true;
        const isSearchRoute = routeMetadata<boolean>(reflector, SEARCH_ROUTE);
        const tier = (name: string, { limit, windowS }: RateLimit): ThrottlerOptions => ({
          name,
          limit,
          ttl: windowS * 1000,
        });
        return {
          storage,
          setHeaders: false,
          throttlers: [
            {
              ...tier('anonymous', throttle.anonymous),
              skipIf: (context) => !!userOf(context.switchToHttp().getRequest()),
              getTracker: (request) => addressOf(request as FastifyRequest),
            },
            {
              ...tier('user', throttle.user),
              skipIf: (context) => !userOf(context.switchToHttp().getRequest()),
              getTracker: (request) => userOf(request as FastifyRequest)!.id,
            },
            {
              ...tier('credentials', throttle.credentials),
              skipIf: (context) => !isCredentialsRoute(context),
              getTracker: (request) => addressOf(request as FastifyRequest),
            },
            {
              ...tier('credentials-account', throttle.credentialsAccount),
              skipIf: (context) => !countsFailedLogins(context),
              getTracker: (request) => accountFromAddressOf(request as FastifyRequest, users),
            },
            {
              ...tier('credentials-global', throttle.credentialsGlobal),
              skipIf: (context) => !countsFailedLogins(context),
              getTracker: (request) => accountOf(request as FastifyRequest, users),
            },
            {
              ...tier('search', throttle.search),
              skipIf: (context) => !isSearchRoute(context),
              getTracker: (request) => callerOf(request as FastifyRequest),
            },
          ],
        };
      },
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class ThrottlingModule {}
