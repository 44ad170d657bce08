import { Injectable } from '@nestjs/common';

/** Whether this instance should receive traffic; flipped once, at the start of a graceful shutdown. */
@Injectable()
export class ReadinessState {
  private shuttingDown = false;
  private readonly onShutdown: (() => void)[] = [];

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Runs `stop` when a graceful shutdown starts, before the drain: for what must take no new work from then on. */
  onShuttingDown(stop: () => void): void {
    this.onShutdown.push(stop);
  }

  markShuttingDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const stop of this.onShutdown) stop();
  }
}
