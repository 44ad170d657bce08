import { Logger, type INestApplication } from '@nestjs/common';
import { ReadinessState } from './readiness-state.js';
import { ShutdownSteps } from './shutdown-steps.js';

export interface ShutdownTiming {
  /** Time between failing readiness and closing the listener, so load balancers stop routing here. */
  drainMs: number;
  /** Hard limit from the first signal to exit; should stay below Kubernetes' terminationGracePeriodSeconds. */
  graceMs: number;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * SIGTERM/SIGINT: readiness turns 503 at once, traffic drains for `drainMs`, then Nest closes the
 * HTTP server (in-flight requests finish, idle keep-alive sockets close) and the shutdown hooks close
 * queues, Redis and MongoDB, each a bounded step (ShutdownSteps); `afterClose` runs last (it flushes
 * traces). Exit 0 once the HTTP server has closed, also when a dependency's close was abandoned: every
 * request was answered, and the log names what was left (decision 0026). A second signal, or `graceMs`
 * elapsing, forces exit 1.
 */
export function installGracefulShutdown(
  app: INestApplication,
  timing: ShutdownTiming,
  afterClose?: () => Promise<void>,
): void {
  const logger = new Logger('Shutdown');
  const readiness = app.get(ReadinessState);
  const steps = app.get(ShutdownSteps);
  let started = false;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (started) {
      logger.warn(`Second ${signal}: exiting now`);
      process.exit(1);
    }
    started = true;
    steps.startedWithin(timing.graceMs);
    readiness.markShuttingDown();
    logger.log(`${signal} received: readiness is 503, draining for ${timing.drainMs} ms`);

    setTimeout(() => {
      logger.error(`Shutdown exceeded ${timing.graceMs} ms: forcing exit`);
      process.exit(1);
    }, timing.graceMs).unref();

    void delay(timing.drainMs)
      .then(() => app.close())
      .then(() => afterClose?.())
      .then(
        () => {
          if (steps.abandoned.length) logger.warn(`Shutdown complete; abandoned: ${steps.abandoned.join(', ')}`);
          else logger.log('Shutdown complete');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'Shutdown failed');
          process.exit(1);
        },
      );
  };

  for (const signal of SIGNALS) process.on(signal, onSignal);
}

/**
 * Until the app is built and its modules' start hooks have run (MongoDB slow to answer at start, say), there is no
 * listener to drain: a signal stops the process at once with exit 0 and its buffered log lines written, instead of
 * Node's default, a kill by the signal (exit 143) that lost the lines of the start so far. Returns what hands the
 * signals over to installGracefulShutdown.
 */
export function exitOnSignalWhileStarting(): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    new Logger('Shutdown').log(`${signal} received while starting: exiting`);
    process.exit(0);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
