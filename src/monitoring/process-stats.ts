import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

const SAMPLE_MS = 1_000;

/**
 * CPU and event-loop delay as the summary reports them, sampled every second. CPU is the share of one
 * core this process used over the last sample (Node runs JavaScript on one thread, so 100 % means
 * saturated whatever the machine's core count); Prometheus has the raw counters for finer views.
 */
@Injectable()
export class ProcessStats implements OnModuleInit, OnApplicationShutdown {
  cpuPercent = 0;
  eventLoopDelayMs = { mean: 0, p99: 0 };
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private timer?: NodeJS.Timeout;
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();

  onModuleInit(): void {
    this.delay.enable();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.delay.disable();
  }

  sample(): void {
    const now = performance.now();
    const used = process.cpuUsage(this.lastCpu);
    const elapsedUs = (now - this.lastAt) * 1000;
    this.cpuPercent = elapsedUs > 0 ? (100 * (used.user + used.system)) / elapsedUs : 0;
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    // The histogram is in ns; NaN before the first sample means "no delay measured yet".
    this.eventLoopDelayMs = {
      mean: (Number.isNaN(this.delay.mean) ? 0 : this.delay.mean) / 1e6,
      p99: this.delay.percentile(99) / 1e6,
    };
    this.delay.reset();
  }
}
