import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

const SAMPLE_MS = 1_000;
/** How often the histogram's timer fires, in ms. */
const RESOLUTION_MS = 20;

/**
 * The mean and p99 delay in ms beyond the sampling timer's own interval: the histogram records how long each
 * `RESOLUTION_MS` timer took to fire, so an idle loop reads ~20 ms (the summary reported that raw figure until
 * 2026-12-04). Floored at 0, as @fastify/under-pressure does; a NaN mean (no sample yet) is no delay measured.
 */
export function eventLoopDelayMs(histogram: Pick<IntervalHistogram, 'mean' | 'percentile'>): {
  mean: number;
  p99: number;
} {
  const beyondResolution = (ns: number) => (Number.isNaN(ns) ? 0 : Math.max(0, ns / 1e6 - RESOLUTION_MS));
  return { mean: beyondResolution(histogram.mean), p99: beyondResolution(histogram.percentile(99)) };
}

/**
 * CPU and event-loop delay as the summary reports them, sampled every second. CPU is the share of one
 * core this process used over the last sample (Node runs JavaScript on one thread, so 100 % means
 * saturated whatever the machine's core count); Prometheus has the raw counters for finer views.
 */
@Injectable()
export class ProcessStats implements OnModuleInit, OnApplicationShutdown {
  cpuPercent = 0;
  eventLoopDelayMs = { mean: 0, p99: 0 };
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
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
    this.eventLoopDelayMs = eventLoopDelayMs(this.delay);
    this.delay.reset();
  }
}
