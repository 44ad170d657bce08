import type { Queue } from 'bull';

/** What a request's Bull command is refused with while the queue's connection to Redis is not up. */
export class QueueNotConnectedError extends Error {
  constructor(queue: Queue) {
    super(`Queue ${queue.name} is not connected to Redis (${queue.client.status})`);
  }
}

/**
 * Sends a command from a request's path (an upload's job, a scrape's queue depths) only while the queue's connection
 * is up. Bull's connections keep ioredis' offline queue, which Bull's own reconnects need, so a command sent while
 * they reconnect waited in memory until Redis came back or ioredis gave up, about 7 minutes into an outage: every
 * upload and every scrape added to it (some 16 KB for one queue's depths). Refused at once instead; those callers have
 * another way (the cleanup job asks for the variants again, the next scrape reads the depths).
 */
export function whileConnected<T>(queue: Queue, command: () => Promise<T>): Promise<T> {
  if (queue.client.status !== 'ready') return Promise.reject(new QueueNotConnectedError(queue));
  return command();
}
