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
@Injectable()
export class ShutdownSteps {
  private readonly logger = new Logger('Shutdown');
  private readonly abandonedSteps: string[] = [];

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  get abandoned(): readonly string[] {
    return this.abandonedSteps;
  }

  /** Runs `close`, waiting at most the step timeout; never rejects. */
  async close(name: string, close: () => Promise<unknown>): Promise<void> {
    const ms = this.config.shutdown.stepTimeoutMs;
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
