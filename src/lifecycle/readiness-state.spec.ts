import { describe, expect, it, vi } from 'vitest';
import { ReadinessState } from './readiness-state.js';

describe('ReadinessState', () => {
  it('stops what registered to stop, once, when the shutdown starts', () => {
    const readiness = new ReadinessState();
    const stop = vi.fn();
    readiness.onShuttingDown(stop);
    expect(stop).not.toHaveBeenCalled();
    readiness.markShuttingDown();
    readiness.markShuttingDown(); // a second signal
    expect(readiness.isShuttingDown).toBe(true);
    expect(stop).toHaveBeenCalledTimes(1);
  });
});
