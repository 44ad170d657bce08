import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { withTimeout } from '../common/with-timeout.js';

export interface RedisClientOptions {
  url: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keyPrefix?: string;
}

const MAX_RECONNECT_DELAY_MS = 2_000;
/** How often a command connection that looks ready is pinged (see replaceWhenSilent). */
const SILENCE_CHECK_MS = 5_000;

/**
 * A client that never lets a Redis outage hang a request: no offline queue (commands fail at once
 * while disconnected), a per-command timeout, one retry per command, and capped reconnect backoff.
 * Commands issued in one event-loop turn leave in one write (auto-pipelining): under load every
 * request's rate-limit check would otherwise cost a write() system call of its own.
 *
 * A `subscriber` connection differs in two ways. It keeps the offline queue, so a SUBSCRIBE sent while
 * disconnected waits for the connection (wait for 'ready' before the first one: during ioredis' handshake it is
 * sent at once and breaks the ready check). And it does not re-subscribe by itself after a reconnect: its owner
 * subscribes again on every 'ready' and handles the failure, while ioredis drops the promise of its own
 * re-subscription, so a connection ending right then was an unhandled rejection (seen in CI).
 *
 * A command connection is replaced when it stops answering while it looks ready (replaceWhenSilent); a subscriber's
 * owner checks its own (InvalidationSubscription).
 */
export function createRedisClient(
  options: RedisClientOptions,
  logger = new Logger('Redis'),
  subscriber = false,
): Redis {
  const client = new Redis(options.url, {
    keyPrefix: options.keyPrefix,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    enableOfflineQueue: subscriber,
    autoResubscribe: !subscriber,
    maxRetriesPerRequest: 1,
    // Not sent again on the next connection: a command in flight when its connection was replaced has timed out or
    // will before a new one is ready (our timeouts are 1 s at most, a reconnect waits 200 ms at least), its caller has
    // moved on, and run late it does what nobody asked for any more: a lock's SET NX whose release had failed held the
    // lock for nobody for its whole expiry (the member's subscription changes got 409 for 30 s), a rate-limit hit was
    // counted twice.
    autoResendUnfulfilledCommands: subscriber,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
  });

  // Log state changes, not every failed reconnect attempt.
  let healthy = true;
  client.on('ready', () => {
    if (!healthy) logger.log('Redis connection restored');
    healthy = true;
  });
  client.on('error', (error: Error) => {
    if (healthy) logger.warn(`Redis unavailable: ${error.message}`);
    healthy = false;
  });
  if (!subscriber) replaceWhenSilent(client, options.commandTimeoutMs, logger);
  return client;
}

/**
 * A connection can die without closing: Redis moved (a failover, a pod on another node) while the packets of the old
 * connection are dropped, or a NAT or conntrack entry forgot it. TCP notices only once its retransmissions give up,
 * about 15 minutes later, and until then every command timed out although a new connection would have worked: the
 * cache's deletions and invalidation messages never left (other instances served a profile hidden meanwhile for its
 * whole TTL), and every subscription change was refused with 503. So a connection that looks ready is pinged every
 * SILENCE_CHECK_MS, and one that misses two pings in a row is dropped and made anew (its owners then handle the
 * reconnect as after any other). Two, so that one slow second of Redis does not reconnect every instance at once.
 */
function replaceWhenSilent(client: Redis, timeoutMs: number, logger: Logger): void {
  let missed = 0;
  let checking = false;
  const check = setInterval(() => {
    if (client.status !== 'ready' || checking) return; // reconnecting already
    checking = true;
    void withTimeout(client.ping(), timeoutMs)
      .then(
        () => (missed = 0),
        (error: Error) => {
          missed += 1;
          if (missed < 2 || client.status !== 'ready') return;
          missed = 0;
          logger.warn(`Redis connection silent (${error.message}): reconnecting`);
          client.disconnect(true);
        },
      )
      .finally(() => (checking = false));
  }, SILENCE_CHECK_MS).unref();
  client.once('end', () => clearInterval(check));
}

/**
 * Waits up to `timeoutMs` for the first connection so early requests find Redis ready; a Redis that
 * is down at start-up does not stop the process, it only means degraded service until it returns.
 */
export async function waitUntilReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(false), timeoutMs);
    const onReady = () => finish(true);
    function finish(ready: boolean): void {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ready);
    }
    client.once('ready', onReady);
  });
}

/** Quits politely, or drops the socket if Redis does not answer within the command timeout. */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
