import type { Logger } from '@nestjs/common';

/**
 * Logs a dependency's outage as it starts and as it ends, not once for each request that meets it: each of those has
 * its own line with its 503, and a client polling through an outage otherwise added a warning per request.
 */
export class OutageLog {
  private failing = false;

  constructor(private readonly logger: Logger) {}

  /** Warns `message` unless the dependency has failed since it last answered. */
  failed(message: string): void {
    if (!this.failing) this.logger.warn(message);
    this.failing = true;
  }

  /** Logs `message` if the dependency had failed: the outage is over. */
  answered(message: string): void {
    if (this.failing) this.logger.log(message);
    this.failing = false;
  }
}
