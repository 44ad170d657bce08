import type { LoggerService } from '@nestjs/common';
import type { Queue } from 'bull';
import type { Redis } from 'ioredis';
import { silenceCheck } from '../redis/silence-check.js';

/** Bull's default wait for the next job, in seconds, which QueuesModule keeps. */
const BULL_DRAIN_DELAY_S = 5;

/**
 * Pings Bull's own connections of `queues` every `everyMs`, replacing each that goes silent while it looks ready
 * (silenceCheck), as createRedisClient does for the app's. Bull makes them (a command connection, a worker's blocking
 * one, a subscriber for global events) without any timeout: gone silent after Redis moved, a worker's wait for the
 * next job never returned, so it took no job until TCP gave up on the connection about 15 minutes later, and every
 * enqueue waited as long. A ping on the blocking connection is answered only once the wait in progress ends, so it is
 * allowed the queue's drainDelay on top. Bull sends again on the new connection what the old one left unanswered (its
 * connections keep ioredis' default), so the wait resumes there. Returns what stops the checks.
 */
export function checkQueueConnections(
  queues: Queue[],
  options: { timeoutMs: number; everyMs: number },
  logger: Pick<LoggerService, 'warn'>,
): () => void {
  const checks = new WeakMap<Redis, () => Promise<void>>();
  const checking = new WeakSet<Redis>();
  const checkOf = (queue: Queue, client: Redis) => {
    let check = checks.get(client);
    if (!check) {
      const drainDelayS = (queue as { settings?: { drainDelay?: number } }).settings?.drainDelay ?? BULL_DRAIN_DELAY_S;
      // Only the blocking connection is ever `blocked` (Bull marks it while it waits).
      const timeoutMs = () => options.timeoutMs + ((client as { blocked?: boolean }).blocked ? drainDelayS * 1000 : 0);
      check = silenceCheck(client, timeoutMs, (error) => {
        logger.warn(`Bull connection of queue ${queue.name} silent (${error.message}): reconnecting`);
      });
      checks.set(client, check);
    }
    return check;
  };
  const timer = setInterval(() => {
    for (const queue of queues) {
      for (const client of queue.clients) {
        if (client.status !== 'ready' || checking.has(client)) continue; // reconnecting already, or being checked
        checking.add(client);
        void checkOf(queue, client)().finally(() => checking.delete(client));
      }
    }
  }, options.everyMs).unref();
  return () => clearInterval(timer);
}
