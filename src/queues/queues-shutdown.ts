import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import Bull, { type Queue } from 'bull';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';

type ShutdownHook = { onApplicationShutdown: () => Promise<void> };

/**
 * Bounds the closing of every Bull queue. @nestjs/bull gives each queue an `onApplicationShutdown` that awaits
 * `queue.close()`, which with Redis stalled never settles: it waits for the blocking connection to reconnect and for
 * QUITs nobody answers. Nest calls those hooks module by module, so one hung queue held every later step, MongoDB
 * included, until SHUTDOWN_GRACE_MS forced exit 1. Here the hooks are replaced by one step that closes all queues
 * at once and is abandoned after SHUTDOWN_STEP_TIMEOUT_MS. A job it leaves running fails as MongoDB and Redis close,
 * and Bull retries it as its attempts say; with Redis stalled Bull cannot record that, and its stalled-job check on
 * another worker runs the job again.
 */
@Injectable()
export class QueuesShutdown implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly steps: ShutdownSteps,
  ) {}

  onModuleInit(): void {
    const queues = this.discovery
      .getProviders()
      .map((wrapper) => wrapper.instance as unknown)
      .filter((instance): instance is Queue => instance instanceof Bull);
    if (!queues.length) return;
    const name = `Bull queues (${queues.map((queue) => queue.name).join(', ')})`;
    let closing: Promise<void> | undefined;
    const closeAll = () =>
      (closing ??= this.steps.close(name, () => Promise.all(queues.map((queue) => queue.close()))));
    for (const queue of queues) (queue as Queue & ShutdownHook).onApplicationShutdown = closeAll;
  }
}
