import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { silenceCheck } from './silence-check.js';

export interface RedisClientOptions {
  url: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keyPrefix?: string;
  /** How often a command connection that looks ready is pinged (SILENCE_CHECK_MS; shorter in tests). */
  silenceCheckMs?: number;
  /** Commands written at once, outside auto-pipelining (see L2_SENT_AT_ONCE). */
  sentAtOnce?: readonly string[];
}

const MAX_RECONNECT_DELAY_MS = 2_000;
/** How often a connection that looks ready is pinged (silenceCheck). */
export const SILENCE_CHECK_MS = 5_000;

/**
 * A failover that demotes the primary leaves its clients connected: the node answers reads and refuses writes with
 * READONLY for as long as the connection lasts. Such an error closes the connection (ioredis' reconnectOnError), and
 * the next one reaches the new primary.
 */
export const refusedByReplica = (error: Error): boolean => error.message.startsWith('READONLY');
const READONLY_LOG_INTERVAL_MS = 60_000;

/**
 * A client that never lets a Redis outage hang a request: no offline queue (commands fail at once
 * while disconnected), a per-command timeout, and capped reconnect backoff.
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
  let lastReadOnlyLog = -Infinity;
  const client = new Redis(options.url, {
    keyPrefix: options.keyPrefix,
    connectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    enableOfflineQueue: subscriber,
    autoResubscribe: !subscriber,
    maxRetriesPerRequest: 1,
    // A command in flight when its connection closed is not sent again on the next one: it waits out its timeout
    // instead. Its caller may have given up on it already, and run late it would do what nobody asks for any more: a
    // lock's SET NX whose release had failed holds the lock for nobody for its whole expiry, a rate-limit hit counts
    // twice.
    autoResendUnfulfilledCommands: subscriber,
    enableAutoPipelining: true,
    autoPipeliningIgnoredCommands: [...(options.sentAtOnce ?? [])],
    retryStrategy: (attempt) => Math.min(attempt * 200, MAX_RECONNECT_DELAY_MS),
    // Reconnected after a READONLY, the client reaches the new primary behind the same address, and the cache distrusts
    // what Redis kept meanwhile (L2Store.reconnected) and replays its refused deletions there; kept on the replica,
    // those deletions never landed and every other instance read the old entries for their whole TTL.
    reconnectOnError: (error) => {
      if (!refusedByReplica(error)) return false;
      // The reconnect emits no 'error', so nothing else would say it happened. At most once a minute: a REDIS_URL that
      // names a replica for good reconnects on every write.
      if (Date.now() - lastReadOnlyLog >= READONLY_LOG_INTERVAL_MS) {
        lastReadOnlyLog = Date.now();
        logger.warn(`Redis refused a write as a replica (${error.message}): reconnecting to reach the primary`);
      }
      return true;
    },
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
  if (!subscriber) {
    replaceWhenSilent(client, options.commandTimeoutMs, options.silenceCheckMs ?? SILENCE_CHECK_MS, (error) =>
      logger.warn(`Redis connection silent (${error.message}): reconnecting`),
    );
  }
  return client;
}

/**
 * Pings a connection every `everyMs` while it looks ready, replacing it when it goes silent (silenceCheck), until it
 * ends. Also for connections this factory did not make (Bull's: checkQueueConnections).
 *
 * A connection on which Redis has answered nothing of its handshake at two checks in a row is replaced too. ioredis'
 * connect timeout ends once TCP connects, and Bull's connections have no command timeout (their handshake is ioredis'
 * CLIENT SETINFO, as Bull turns the ready check off): one made while Redis accepted connections and answered nothing
 * (hung, or a proxy in front of it without its backend) waited for ever, never looked ready, so it was never pinged,
 * and once Redis answered new connections again the worker still took no job and every enqueue timed out, until TCP
 * keep-alive gave up on the connection hours later. (The app's own connections fail their ready check at the command
 * timeout, and reconnect.)
 */
export function replaceWhenSilent(
  client: Redis,
  timeoutMs: number | (() => number),
  everyMs: number,
  onSilent: (error: Error) => void,
): void {
  const ping = silenceCheck(client, timeoutMs, onSilent);
  let checking = false;
  // The connection seen at the last check waiting for its handshake with not one byte read from Redis. One that Redis
  // answers (a ready check told `loading:1` and retried until the dataset is loaded, minutes for a large one) is not
  // silent: replaced, it only started its ready check again, and logged a silence that was not there.
  let unanswered: unknown;
  const check = setInterval(() => {
    const waiting = client.status === 'connect' && client.stream.bytesRead === 0 ? client.stream : undefined;
    if (waiting && waiting === unanswered) {
      unanswered = undefined;
      onSilent(new Error('no answer to the connection handshake'));
      client.disconnect(true);
    } else unanswered = waiting;
    if (client.status !== 'ready' || checking) return; // reconnecting already
    checking = true;
    void ping().finally(() => (checking = false));
  }, everyMs).unref();
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
