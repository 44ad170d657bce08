import { Injectable, Logger } from '@nestjs/common';
import { InjectConfig } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';
import { TimeoutError, withTimeout } from '../common/with-timeout.js';

/**
 * The close steps of a shutdown, each bounded by SHUTDOWN_STEP_TIMEOUT_MS. A step that does not finish in time
 * (Redis stalled: ioredis' QUIT and Bull's close wait for answers that never come) or fails is abandoned with a
 * warning naming it, and the shutdown goes on, so MongoDB still closes and the process exits long before
 * SHUTDOWN_GRACE_MS. What was abandoned is reported in the last line of the shutdown (decision 0026).
 */
/** Left for what follows the steps (the traces' flush, the last log line) before the grace period ends. */
const DEADLINE_MARGIN_MS = 1_000;

@Injectable()
export class ShutdownSteps {
  private readonly logger = new Logger('Shutdown');
  private readonly abandonedSteps: string[] = [];

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  get abandoned(): readonly string[] {
    return this.abandonedSteps;
  }

  /**
   * Set when a signal starts the shutdown: a little before SHUTDOWN_GRACE_MS forces exit 1. The steps run one after
   * another, so several that hang could add up past it; each also ends by this time.
   */
  private deadline = Infinity;

  /** The shutdown began now: every step must end before the grace period does, with a margin for the last lines. */
  startedWithin(graceMs: number): void {
    this.deadline = Date.now() + graceMs - DEADLINE_MARGIN_MS;
  }

  /** Runs `close`, waiting at most the step timeout (less, near the deadline); never rejects. */
  async close(name: string, close: () => Promise<unknown>): Promise<void> {
    const ms = Math.max(0, Math.min(this.config.shutdown.stepTimeoutMs, this.deadline - Date.now()));
    try {
      await withTimeout(close(), ms);
      this.logger.log(`${name} closed`);
    } catch (error) {
      this.abandonedSteps.push(name);
      if (error instanceof TimeoutError) this.logger.warn(`${name} did not close within ${ms} ms: abandoned`);
      else this.logger.warn(`${name} failed to close: ${(error as Error).message}; abandoned`);
    }
  }
}
