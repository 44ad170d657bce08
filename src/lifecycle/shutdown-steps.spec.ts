import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../config/app-config.js';
import { ShutdownSteps } from './shutdown-steps.js';

const never = () => new Promise<never>(() => undefined);
const steps = (stepTimeoutMs: number) =>
  new ShutdownSteps({ shutdown: { drainMs: 0, graceMs: 25_000, stepTimeoutMs } } as AppConfig);

describe('ShutdownSteps', () => {
  it('abandons a step that hangs after the step timeout, names it, and goes on', async () => {
    const shutdown = steps(100);
    const started = Date.now();
    await shutdown.close('Bull queues', never);
    await shutdown.close('MongoDB', () => Promise.resolve());
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(shutdown.abandoned).toEqual(['Bull queues']);
  });

  it('ends every step before the grace period does, however many hang one after another', async () => {
    const shutdown = steps(10_000);
    // 1.5 s of grace: the steps must be over a second before it ends (the margin), not after 3 × 10 s.
    shutdown.startedWithin(1_500);
    const started = Date.now();
    for (const name of ['Bull queues', 'Redis (cache)', 'MongoDB']) await shutdown.close(name, never);
    expect(Date.now() - started).toBeLessThan(1_200);
    expect(shutdown.abandoned).toEqual(['Bull queues', 'Redis (cache)', 'MongoDB']);
  });
});
