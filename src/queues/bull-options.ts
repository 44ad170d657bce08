import type { BullModuleOptions } from '@nestjs/bull';
import { refusedByReplica, type RedisClientOptions } from '../redis/redis-client.factory.js';

/** ioredis' reconnectOnError: reconnect, then send the refused command again. */
const RECONNECT_AND_RESEND = 2;

/**
 * Bull's connections on the app's Redis, its keys under the configured prefix. Bull makes its own connections, so a
 * failover's READONLY is handled here as createRedisClient handles it for the app's: without it, a producer's every
 * `add` and a worker's every wait for the next job were refused by the demoted node for as long as the connection
 * lasted, so no job ran. A refused command did not run, so sending it again on the new connection cannot do it twice.
 */
export function bullOptions(redis: Pick<RedisClientOptions, 'url' | 'keyPrefix'>): BullModuleOptions {
  return {
    url: redis.url,
    prefix: `${redis.keyPrefix ?? ''}bull`,
    redis: { reconnectOnError: (error) => (refusedByReplica(error) ? RECONNECT_AND_RESEND : false) },
  };
}
