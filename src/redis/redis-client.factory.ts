import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

export interface RedisClientOptions {
  url: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keyPrefix?: string;
}

const MAX_RECONNECT_DELAY_MS = 2_000;

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
  return client;
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
