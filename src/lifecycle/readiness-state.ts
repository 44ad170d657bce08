import { Injectable } from '@nestjs/common';

/** Whether this instance should receive traffic; flipped once, at the start of a graceful shutdown. */
@Injectable()
export class ReadinessState {
  private shuttingDown = false;

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  markShuttingDown(): void {
    this.shuttingDown = true;
  }
}
