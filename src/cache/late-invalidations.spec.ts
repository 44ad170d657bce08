import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LATE_INVALIDATION_DELAYS_MS, LateInvalidations, MAX_LATE_INVALIDATIONS } from './late-invalidations.js';

describe('LateInvalidations', () => {
  let calls: { at: number; keys: string[]; tags: string[] }[];
  let late: LateInvalidations;

  beforeEach(() => {
    vi.useFakeTimers();
    calls = [];
    late = new LateInvalidations((keys, tags) => {
      calls.push({ at: Date.now(), keys, tags });
      return Promise.resolve();
    });
  });

  afterEach(() => {
    late.stop();
    vi.useRealTimers();
  });

  it('invalidates the keys and tags of a failed write again at each delay, within a tick, then forgets them', async () => {
    const failedAt = Date.now();
    late.add(['cache:profile:a'], ['list']);
    await vi.advanceTimersByTimeAsync(LATE_INVALIDATION_DELAYS_MS.at(-1)! + 1_000);

    expect(calls.map((call) => [call.keys, call.tags])).toEqual(
      LATE_INVALIDATION_DELAYS_MS.map(() => [['cache:profile:a'], ['list']]),
    );
    calls.forEach((call, pass) => {
      expect(call.at - failedAt).toBeGreaterThanOrEqual(LATE_INVALIDATION_DELAYS_MS[pass]);
      expect(call.at - failedAt).toBeLessThanOrEqual(LATE_INVALIDATION_DELAYS_MS[pass] + 250);
    });
    expect(late.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0); // no timer left ticking once nothing waits
  });

  it('starts the passes again for a key whose write fails again, and holds it once', async () => {
    late.add(['cache:profile:a'], []);
    await vi.advanceTimersByTimeAsync(LATE_INVALIDATION_DELAYS_MS[2] + 100); // three passes done
    const secondFailure = Date.now();
    late.add(['cache:profile:a'], []);
    calls = [];
    await vi.advanceTimersByTimeAsync(LATE_INVALIDATION_DELAYS_MS.at(-1)! + 1_000);

    expect(calls).toHaveLength(LATE_INVALIDATION_DELAYS_MS.length);
    expect(calls[0].at - secondFailure).toBeGreaterThanOrEqual(LATE_INVALIDATION_DELAYS_MS[0]);
    expect(calls[0].at - secondFailure).toBeLessThan(LATE_INVALIDATION_DELAYS_MS[1]);
  });

  it('goes out in batches that fall due together, and keeps at most MAX_LATE_INVALIDATIONS, the latest', async () => {
    const keys = Array.from({ length: MAX_LATE_INVALIDATIONS + 10 }, (_, i) => `cache:profile:${i}`);
    late.add(keys, []);
    expect(late.size).toBe(MAX_LATE_INVALIDATIONS);
    await vi.advanceTimersByTimeAsync(LATE_INVALIDATION_DELAYS_MS[0] + 250);

    const sent = calls.flatMap((call) => call.keys);
    expect(sent).toHaveLength(MAX_LATE_INVALIDATIONS);
    expect(sent).not.toContain('cache:profile:0'); // the oldest lost their passes
    expect(sent).toContain(keys.at(-1));
    expect(Math.max(...calls.map((call) => call.keys.length))).toBeLessThanOrEqual(500);
  });

  it('drops every pass still to come when stopped', async () => {
    late.add(['cache:profile:a'], ['list']);
    late.stop();
    await vi.advanceTimersByTimeAsync(LATE_INVALIDATION_DELAYS_MS.at(-1)! + 1_000);
    expect(calls).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('takes no passes once stopped, for a write failing while the app shuts down', async () => {
    late.stop();
    late.add(['cache:profile:a'], ['list']);
    await vi.advanceTimersByTimeAsync(LATE_INVALIDATION_DELAYS_MS.at(-1)! + 1_000);
    expect(calls).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends no further batch once stopped during one', async () => {
    let release = () => {};
    late = new LateInvalidations((keys, tags) => {
      calls.push({ at: Date.now(), keys, tags });
      return new Promise((resolve) => (release = resolve));
    });
    late.add(
      Array.from({ length: 1_000 }, (_, i) => `cache:profile:${i}`),
      [],
    );
    await vi.advanceTimersByTimeAsync(LATE_INVALIDATION_DELAYS_MS[0] + 250);
    expect(calls).toHaveLength(1); // the first batch of 500, still running
    late.stop();
    release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(1);
  });
});
