import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AdmissionAbandonedError,
  AdmissionRefusedError,
  BoundedAdmission,
  type AdmissionRefusal,
} from './bounded-admission.js';

/** A task that runs until the test ends it. */
function gate() {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { task: () => done, open, fail };
}

/** Lets the promise callbacks queued so far run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe('BoundedAdmission', () => {
  let refusals: AdmissionRefusal[];
  const admission = (concurrency: number, queueLimit: number, maxWaitMs = 1_000) =>
    new BoundedAdmission({ concurrency, queueLimit, maxWaitMs }, (reason) => refusals.push(reason));

  beforeEach(() => {
    vi.useFakeTimers();
    refusals = [];
  });
  afterEach(() => vi.useRealTimers());

  it('runs at most `concurrency` tasks at once and starts the waiters in arrival order as slots free up', async () => {
    const bound = admission(2, 10);
    const gates = Array.from({ length: 5 }, gate);
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      bound.run(() => {
        started.push(i);
        return g.task();
      }),
    );
    await settle();
    expect(started).toEqual([0, 1]);
    expect([bound.inFlight, bound.waiting]).toEqual([2, 3]);

    gates[1].open();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    expect([bound.inFlight, bound.waiting]).toEqual([2, 2]);

    for (const g of gates) g.open();
    await Promise.all(runs);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect([bound.inFlight, bound.waiting]).toEqual([0, 0]);
    expect(refusals).toEqual([]);
  });

  it('refuses a caller at once, without running its task, when the queue is full', async () => {
    const bound = admission(1, 2);
    const busy = gate();
    const runs = [bound.run(busy.task), bound.run(busy.task), bound.run(busy.task)];
    const extra = vi.fn(() => Promise.resolve('ran'));

    const refused = bound.run(extra);
    await expect(refused).rejects.toBeInstanceOf(AdmissionRefusedError);
    await expect(refused).rejects.toMatchObject({ reason: 'queue_full' });
    expect(extra).not.toHaveBeenCalled();
    expect(refusals).toEqual(['queue_full']);
    expect([bound.inFlight, bound.waiting]).toEqual([1, 2]);

    busy.open();
    await Promise.all(runs);
  });

  it('with a queue limit of 0 lets nobody wait', async () => {
    const bound = admission(1, 0);
    const busy = gate();
    const running = bound.run(busy.task);
    await expect(bound.run(busy.task)).rejects.toMatchObject({ reason: 'queue_full' });
    busy.open();
    await running;
  });

  it('refuses a waiter whose slot does not come within maxWaitMs, and gives that place to the next caller', async () => {
    const bound = admission(1, 1, 500);
    const busy = gate();
    const running = bound.run(busy.task);
    const late = vi.fn(() => Promise.resolve());
    const waiting = bound.run(late);
    const outcome = waiting.catch((error: unknown) => error);

    await vi.advanceTimersByTimeAsync(499);
    expect(bound.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toMatchObject({ reason: 'wait_timeout' });
    expect(refusals).toEqual(['wait_timeout']);
    expect(bound.waiting).toBe(0);

    // Its place in the queue is free again, and the slot, once freed, is not handed to the caller that left.
    const next = vi.fn(() => Promise.resolve('next'));
    const queued = bound.run(next);
    busy.open();
    await running;
    expect(await queued).toBe('next');
    expect(late).not.toHaveBeenCalled();
    expect([bound.inFlight, bound.waiting]).toEqual([0, 0]);
  });

  it('does not time out a task that has started: maxWaitMs bounds the wait for a slot, not the work', async () => {
    const bound = admission(1, 1, 100);
    const slow = gate();
    const run = bound.run(slow.task);
    await vi.advanceTimersByTimeAsync(1_000);
    slow.open();
    await expect(run).resolves.toBeUndefined();
    expect(refusals).toEqual([]);
  });

  it('frees the slot of a task that fails or throws, and hands its error to the caller', async () => {
    const bound = admission(1, 2);
    const failing = gate();
    const first = bound.run(failing.task);
    const second = bound.run(() => {
      throw new Error('thrown before any promise');
    });
    const third = bound.run(() => Promise.resolve('third'));

    failing.fail(new Error('hash failed'));
    await expect(first).rejects.toThrow('hash failed');
    await expect(second).rejects.toThrow('thrown before any promise');
    expect(await third).toBe('third');
    expect([bound.inFlight, bound.waiting]).toEqual([0, 0]);
    expect(refusals).toEqual([]);
  });

  it('lets a newcomer wait behind the queue rather than take a slot a waiter is owed', async () => {
    const bound = admission(1, 5);
    const busy = gate();
    const order: string[] = [];
    const first = bound.run(() => busy.task().then(() => void order.push('first')));
    const waiter = bound.run(() => Promise.resolve(void order.push('waiter')));
    busy.open();
    const newcomer = bound.run(() => Promise.resolve(void order.push('newcomer')));
    await Promise.all([first, waiter, newcomer]);
    expect(order).toEqual(['first', 'waiter', 'newcomer']);
  });

  it('lets a waiter whose request was abandoned leave the queue at once, without a refusal, its task never run', async () => {
    const bound = admission(1, 1, 1_000);
    const busy = gate();
    const running = bound.run(busy.task);
    const gone = new AbortController();
    const late = vi.fn(() => Promise.resolve());
    const outcome = bound.run(late, gone.signal).catch((error: unknown) => error);
    await settle();
    expect(bound.waiting).toBe(1);

    gone.abort();
    expect(await outcome).toBeInstanceOf(AdmissionAbandonedError);
    expect(bound.waiting).toBe(0);
    // Its place is free for a caller still waiting for its answer, who gets the slot once it is freed.
    const next = bound.run(() => Promise.resolve('next'));
    busy.open();
    await running;
    expect(await next).toBe('next');
    expect(late).not.toHaveBeenCalled();
    expect(refusals).toEqual([]);
    expect([bound.inFlight, bound.waiting]).toEqual([0, 0]);
  });

  it('keeps a caller already abandoned out of a full queue, but lets it take a free slot, which keeps nobody waiting', async () => {
    const gone = new AbortController();
    gone.abort();
    const bound = admission(1, 1);
    const busy = gate();
    const running = bound.run(busy.task, gone.signal);
    await settle();
    expect(bound.inFlight).toBe(1);

    const task = vi.fn(() => Promise.resolve());
    await expect(bound.run(task, gone.signal)).rejects.toBeInstanceOf(AdmissionAbandonedError);
    expect(task).not.toHaveBeenCalled();
    expect([bound.waiting, refusals]).toEqual([0, []]);
    busy.open();
    await running;
  });

  it('lets a task admitted before its request was abandoned finish, its slot freed when it settles', async () => {
    const bound = admission(1, 1);
    const gone = new AbortController();
    const work = gate();
    const run = bound.run(work.task, gone.signal);
    await settle();
    gone.abort();
    expect(bound.inFlight).toBe(1);
    work.open();
    await expect(run).resolves.toBeUndefined();
    expect([bound.inFlight, bound.waiting]).toEqual([0, 0]);
  });
});
