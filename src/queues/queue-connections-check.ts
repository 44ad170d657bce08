import type { LoggerService } from '@nestjs/common';
import type { Queue } from 'bull';
import type { Redis } from 'ioredis';
import { replaceWhenSilent } from '../redis/redis-client.factory.js';

/** Bull's default wait for the next job, in seconds, which QueuesModule keeps. */
const BULL_DRAIN_DELAY_S = 5;

/**
 * Pings Bull's own connections of `queues`, replacing each that goes silent while it looks ready (replaceWhenSilent),
 * as createRedisClient does for the app's. Bull makes them (a command connection, a worker's blocking one, a subscriber
 * for global events) without any timeout: gone silent after Redis moved, a worker's wait for the next job never
 * returned, so it took no job until TCP gave up on the connection about 15 minutes later, and every enqueue waited as
 * long. A ping on the blocking connection is answered only once the wait in progress ends, so it is allowed the queue's
 * drainDelay on top. Bull sends again on the new connection what the old one left unanswered (its connections keep
 * ioredis' default), so the wait resumes there. Bull makes some connections late (a worker's blocking one when it
 * starts to wait), so the queues are looked at every `everyMs`; the returned function stops that, and each
 * connection's checks end with it.
 */
export function checkQueueConnections(
  queues: Queue[],
  options: { timeoutMs: number; everyMs: number },
  logger: Pick<LoggerService, 'warn'>,
): () => void {
  const watched = new WeakSet<Redis>();
  const watchNewConnections = () => {
    for (const queue of queues) {
      const drainDelayS = (queue as { settings?: { drainDelay?: number } }).settings?.drainDelay ?? BULL_DRAIN_DELAY_S;
      for (const client of queue.clients) {
        if (watched.has(client)) continue;
        watched.add(client);
        // Only the blocking connection is ever `blocked` (Bull marks it while it waits).
        const timeoutMs = () =>
          options.timeoutMs + ((client as { blocked?: boolean }).blocked ? drainDelayS * 1000 : 0);
        replaceWhenSilent(client, timeoutMs, options.everyMs, (error) => {
          logger.warn(`Bull connection of queue ${queue.name} silent (${error.message}): reconnecting`);
        });
      }
    }
  };
  watchNewConnections();
  const timer = setInterval(watchNewConnections, options.everyMs).unref();
  return () => clearInterval(timer);
}
