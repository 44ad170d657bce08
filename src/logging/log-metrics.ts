import { Counter, type Registry } from 'prom-client';
import { droppedLogLines } from './root-logger.js';

/**
 * log_lines_dropped_total: the lines the process's log buffer dropped while stdout took nothing (a stalled log
 * collector). The logger exists before any registry, so the count is read when scraped.
 */
export function registerLogMetrics(registry: Registry): void {
  new Counter({
    name: 'log_lines_dropped_total',
    help: 'Log lines dropped because stdout took none and the log buffer was full',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(droppedLogLines());
    },
  });
}
