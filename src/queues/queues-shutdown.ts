import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import type { Queue } from 'bull';
import { ReadinessState } from '../lifecycle/readiness-state.js';
import { ShutdownSteps } from '../lifecycle/shutdown-steps.js';
import { bullQueues } from './bull-queues.js';

type ShutdownHook = { onApplicationShutdown: () => Promise<void> };

/** What ioredis rejects a connect() with when its connection is closed under it, or is already being made. */
const RECONNECT_REJECTIONS: ReadonlySet<string> = new Set([
  'Connection is closed.',
  'Redis is already connecting/connected',
]);
let toleratingReconnectRejections = false;

/**
 * Bull's close (whenCurrentJobsFinished) cuts the blocking connection and reconnects it, and awaits that reconnection
 * only once the running jobs are done. With Redis refusing connections (restarting, or evicted with this pod) the
 * reconnection fails first, unhandled, and Node ended the process there with exit 1 and an ioredis stack on stderr,
 * before MongoDB closed. From the first close on, such a rejection is logged instead; any other stays fatal. Once per
 * process: tests close many apps in one.
 */
function tolerateReconnectRejections(): void {
  if (toleratingReconnectRejections) return;
  toleratingReconnectRejections = true;
  process.on('unhandledRejection', (reason: unknown) => {
    if (!(reason instanceof Error) || !RECONNECT_REJECTIONS.has(reason.message)) throw reason;
    new Logger('Shutdown').warn(`A Bull connection closing while Redis is away: ${reason.message}`);
  });
}

/**
 * Bounds the closing of every Bull queue. @nestjs/bull gives each queue an `onApplicationShutdown` that awaits
 * `queue.close()`, which with Redis stalled never settles: it waits for the blocking connection to reconnect and for
 * QUITs nobody answers. Nest calls those hooks module by module, so one hung queue held every later step, MongoDB
 * included, until SHUTDOWN_GRACE_MS forced exit 1. Here the hooks are replaced by one step that closes all queues
 * at once and is abandoned after SHUTDOWN_STEP_TIMEOUT_MS. A job it leaves running fails as MongoDB and Redis close,
 * and Bull retries it as its attempts say; with Redis stalled Bull cannot record that, and its stalled-job check on
 * another worker runs the job again.
 *
 * Before that, from the signal on, this process takes no new job (a local pause; the queues stay open for others):
 * a job taken during the drain had only the close's bound left to finish, and one cut off there runs again elsewhere
 * once Bull sees it stalled. The pause ends the blocking wait for the next job within about half a second (Bull asks
 * that connection to quit, then cuts it); a job that wait receives meanwhile still runs, one per queue at most.
 */
@Injectable()
export class QueuesShutdown implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly steps: ShutdownSteps,
    private readonly readiness: ReadinessState,
  ) {}

  onModuleInit(): void {
    const queues = bullQueues(this.discovery);
    if (!queues.length) return;
    const name = `Bull queues (${queues.map((queue) => queue.name).join(', ')})`;
    // Never rejects; settles once every queue is paused here (never, with Redis stalled: the close step is bounded).
    let pausing: Promise<void> = Promise.resolve();
    this.readiness.onShuttingDown(() => {
      const logger = new Logger('Shutdown');
      pausing = Promise.all(queues.map((queue) => queue.pause(true, true))).then(
        () => logger.log(`${name} paused: no new job is taken here`),
        (error: Error) => logger.warn(`${name} not all paused: ${error.message}`),
      );
    });
    // The close pauses again, cutting and reconnecting the same blocking connections: it waits for the pause above,
    // so the two never do that at once.
    const closeAll = async () => {
      tolerateReconnectRejections();
      await pausing;
      await Promise.all(queues.map((queue) => queue.close()));
    };
    let closing: Promise<void> | undefined;
    const closeStep = () => (closing ??= this.steps.close(name, closeAll));
    for (const queue of queues) (queue as Queue & ShutdownHook).onApplicationShutdown = closeStep;
  }
}
