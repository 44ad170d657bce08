import { describe, expect, it } from 'vitest';
import { LocalThrottleCounts } from './local-throttle-counts.js';

const MINUTE = 60_000;

/** Counts on a clock the test moves by hand, holding at most `maxKeys` clients; `evicted` counts those forgotten. */
function countsWithClock(maxKeys = 100) {
  const clock = { now: 1_000_000 };
  const evictions = { count: 0 };
  const counts = new LocalThrottleCounts(
    maxKeys,
    () => (evictions.count += 1),
    () => clock.now,
  );
  return { counts, clock, evictions };
}

describe('LocalThrottleCounts.check (the CHECK script in memory)', () => {
  it('counts up to the limit in a window that starts at the first hit, then blocks for the block duration', () => {
    const { counts, clock } = countsWithClock();
    const check = () => counts.check('anonymous:a', MINUTE, 2, 5 * MINUTE);
    expect(check()).toEqual([1, MINUTE, 0, 0]);
    clock.now += 1_000;
    expect(check()).toEqual([2, MINUTE - 1_000, 0, 0]);
    expect(check()).toEqual([3, MINUTE - 1_000, 1, 5 * MINUTE]);

    // While blocked nothing is counted, also after the window ended; the block ends on its own time.
    clock.now += 2 * MINUTE;
    expect(check()).toEqual([2, 0, 1, 3 * MINUTE]);
    clock.now += 3 * MINUTE;
    expect(check()).toEqual([1, MINUTE, 0, 0]);
  });

  it('starts a new window once the last one ended', () => {
    const { counts, clock } = countsWithClock();
    counts.check('anonymous:a', MINUTE, 5, MINUTE);
    counts.check('anonymous:a', MINUTE, 5, MINUTE);
    clock.now += MINUTE;
    expect(counts.check('anonymous:a', MINUTE, 5, MINUTE)).toEqual([1, MINUTE, 0, 0]);
  });

  it('counts each key on its own', () => {
    const { counts } = countsWithClock();
    counts.check('anonymous:a', MINUTE, 1, MINUTE);
    expect(counts.check('anonymous:a', MINUTE, 1, MINUTE)[2]).toBe(1);
    expect(counts.check('anonymous:b', MINUTE, 1, MINUTE)).toEqual([1, MINUTE, 0, 0]);
    expect(counts.check('user:a', MINUTE, 1, MINUTE)).toEqual([1, MINUTE, 0, 0]);
  });

  it('lifts a block once the limit is raised above the one it was set under, and keeps it when lowered', () => {
    const { counts } = countsWithClock();
    const check = (limit: number) => counts.check('anonymous:a', MINUTE, limit, MINUTE);
    check(2);
    check(2);
    expect(check(2)[2]).toBe(1);
    expect(check(1)[2]).toBe(1);
    // Three hits counted so far; under a limit of 5 the fourth and fifth pass, and the sixth is blocked again.
    expect(check(5)).toEqual([4, MINUTE, 0, 0]);
    expect(check(5)).toEqual([5, MINUTE, 0, 0]);
    expect(check(5)[2]).toBe(1);
  });
});

describe('LocalThrottleCounts.checkFailures and refund (CHECK_FAILURES and REFUND in memory)', () => {
  it('refuses at the limit without counting or blocking, and lets the next through once a hit is given back', () => {
    const { counts, clock } = countsWithClock();
    const check = () => counts.checkFailures('credentials-account:a:hash', MINUTE, 2);
    check();
    clock.now += 1_000;
    expect(check()).toEqual([2, MINUTE - 1_000, 0, 0]);
    // The rest of the window, not a block of its own.
    expect(check()).toEqual([2, MINUTE - 1_000, 1, MINUTE - 1_000]);
    expect(check()).toEqual([2, MINUTE - 1_000, 1, MINUTE - 1_000]);

    counts.refund(['credentials-account:a:hash']);
    expect(check()).toEqual([2, MINUTE - 1_000, 0, 0]);
    clock.now += MINUTE;
    expect(check()).toEqual([1, MINUTE, 0, 0]);
  });

  it('never takes a count below zero, never gives back into an ended window, and never creates a key', () => {
    const { counts, clock } = countsWithClock(1);
    counts.checkFailures('credentials-global:hash', MINUTE, 5);
    counts.refund(['credentials-global:hash', 'credentials-global:hash', 'credentials-global:unknown']);
    expect(counts.checkFailures('credentials-global:hash', MINUTE, 5)[0]).toBe(1);

    clock.now += MINUTE;
    counts.refund(['credentials-global:hash']);
    expect(counts.checkFailures('credentials-global:hash', MINUTE, 5)).toEqual([1, MINUTE, 0, 0]);
  });
});

describe('LocalThrottleCounts.refund of a blocking tier (REFUND in memory)', () => {
  it('lifts a block once hits given back bring the count within the limit it was set under', () => {
    const { counts } = countsWithClock();
    const check = () => counts.check('credentials:a', MINUTE, 2, MINUTE);
    check();
    check();
    expect(check()[2]).toBe(1);
    counts.refund(['credentials:a', 'credentials:a']);
    expect(check()).toEqual([2, MINUTE, 0, 0]);
    expect(check()[2]).toBe(1);
    counts.refund(['credentials:a']);
    expect(check()[2]).toBe(1);
  });
});

describe('LocalThrottleCounts memory cap', () => {
  it('holds at most maxKeys clients, forgetting the least recently checked, who then starts afresh', () => {
    const { counts, evictions } = countsWithClock(3);
    const check = (client: string) => counts.check(`anonymous:${client}`, MINUTE, 1, MINUTE);
    check('limited');
    expect(check('limited')[2]).toBe(1);
    check('idle');

    // A flood of new clients: each pushes out the one checked least recently, not the client being limited.
    for (const client of ['flood-1', 'flood-2', 'flood-3', 'flood-4']) {
      check(client);
      expect(check('limited')[2]).toBe(1);
    }
    expect(evictions.count).toBe(3);
    // The idle client and the first of the flood were forgotten; each counts from its first hit again.
    expect(check('idle')).toEqual([1, MINUTE, 0, 0]);
    expect(check('flood-1')).toEqual([1, MINUTE, 0, 0]);
  });

  it('keeps a refusal Redis answered, with its block where the tier blocks, and drops a count it let through', () => {
    const { counts, clock, evictions } = countsWithClock();
    counts.follow('anonymous:a', [3, 30_000, 1, 50_000], 2, true);
    expect(counts.check('anonymous:a', MINUTE, 2, MINUTE)).toEqual([3, 30_000, 1, 50_000]);
    clock.now += 50_000;
    expect(counts.check('anonymous:a', MINUTE, 2, MINUTE)).toEqual([1, MINUTE, 0, 0]);

    // Counted in memory in a stall, then let through by Redis: Redis's count holds, the pod's is dropped.
    counts.check('anonymous:b', MINUTE, 2, MINUTE);
    counts.follow('anonymous:b', [1, 40_000, 0, 0], 2, true);
    expect(counts.check('anonymous:b', MINUTE, 2, MINUTE)).toEqual([1, MINUTE, 0, 0]);

    // A failed-login tier refuses at its limit without a block: the count refuses in memory until its window ends.
    counts.follow('credentials-global:a', [2, 40_000, 1, 40_000], 2, false);
    expect(counts.checkFailures('credentials-global:a', MINUTE, 2)).toEqual([2, 40_000, 1, 40_000]);
    expect(evictions.count).toBe(0);
  });
});

describe('LocalThrottleCounts.peek (the PEEK script in memory)', () => {
  it('reads hits, window and a block that holds under the limit, counting nothing and creating no tracker', () => {
    const { counts, clock } = countsWithClock();
    for (let i = 0; i < 3; i += 1) counts.check('search:a', MINUTE, 2, 5 * MINUTE);
    clock.now += 1_000;
    expect(counts.peek('search:a', 2, false)).toEqual([3, MINUTE - 1_000, 5 * MINUTE - 1_000]);
    // Raised above the limit the block was set under, the block no longer holds.
    expect(counts.peek('search:a', 3, false)).toEqual([3, MINUTE - 1_000, 0]);
    clock.now += MINUTE;
    expect(counts.peek('search:a', 2, false)).toEqual([0, 0, 4 * MINUTE - 1_000]);

    counts.checkFailures('credentials-global:a', MINUTE, 1);
    expect(counts.peek('credentials-global:a', 1, true)).toEqual([1, MINUTE, 0]);
    expect(counts.checkFailures('credentials-global:a', MINUTE, 2)).toEqual([2, MINUTE, 0, 0]);

    expect(counts.peek('anonymous:b', 2, false)).toEqual([0, 0, 0]);
    expect(counts.check('anonymous:b', MINUTE, 2, MINUTE)).toEqual([1, MINUTE, 0, 0]);
  });
});
