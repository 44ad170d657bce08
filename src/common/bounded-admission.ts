/** Why a caller was turned away: every slot busy and the queue full, or no slot came free within the wait allowed. */
export type AdmissionRefusal = 'queue_full' | 'wait_timeout';

export class AdmissionRefusedError extends Error {
  override readonly name = 'AdmissionRefusedError';

  constructor(readonly reason: AdmissionRefusal) {
    super(reason === 'queue_full' ? 'Every slot is busy and the queue is full' : 'No slot came free in time');
  }
}

/** The caller's signal aborted before a slot came: it left the queue, and its task never ran. */
export class AdmissionAbandonedError extends Error {
  override readonly name = 'AdmissionAbandonedError';

  constructor() {
    super('The caller left before a slot came free');
  }
}

export interface BoundedAdmissionLimits {
  /** Tasks that may run at once. */
  concurrency: number;
  /** Callers that may wait for a slot; one more is refused at once (0: none wait). */
  queueLimit: number;
  /** How long a caller may wait for a slot; then it is refused and leaves the queue. */
  maxWaitMs: number;
}

interface Waiter {
  admit(): void;
}

/**
 * At most `concurrency` tasks at once, at most `queueLimit` callers waiting (first come, first served), none of them
 * longer than `maxWaitMs`. A refusal is quick, so a caller under a deadline can answer before it: a wait that outlasts
 * the deadline serves nobody. A task's slot is freed when it settles, failed or not, and goes to the longest waiter.
 * p-limit and p-queue bound concurrency only; see docs/decisions/0032.
 */
export class BoundedAdmission {
  private running = 0;
  /** In arrival order (a Set iterates in insertion order); a waiter that timed out deletes itself. */
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly limits: BoundedAdmissionLimits,
    private readonly onRefused: (reason: AdmissionRefusal) => void = () => undefined,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Runs `task` once a slot is free; rejects with AdmissionRefusedError, without running it, if none comes in time.
   * When `abandoned` aborts while the caller waits (its client left, or the request was answered at its deadline), the
   * caller leaves the queue at once with AdmissionAbandonedError, and one already abandoned does not join it: kept, it
   * held a place a live caller was refused for, then a slot for work nobody would receive. Not a refusal: nobody is
   * told to come back. The signal only ever frees a place in the queue: a task already running is not stopped (argon2
   * cannot be), and a slot that is free is taken.
   */
  async run<T>(task: () => Promise<T>, abandoned?: AbortSignal): Promise<T> {
    await this.acquire(abandoned);
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  private acquire(abandoned: AbortSignal | undefined): Promise<void> {
    // No waiter while a slot is free: release() hands a freed slot straight to the longest waiter. A free slot goes to
    // an abandoned caller too: it keeps nobody waiting, and what the task does goes ahead as without the bound (a
    // password change whose client left still goes through, decision 0025).
    if (this.running < this.limits.concurrency) {
      this.running += 1;
      return Promise.resolve();
    }
    if (abandoned?.aborted) return Promise.reject(new AdmissionAbandonedError());
    if (this.waiters.size >= this.limits.queueLimit) return Promise.reject(this.refuse('queue_full'));
    return new Promise((resolve, reject) => {
      const leave = (error: Error) => {
        clearTimeout(timer);
        abandoned?.removeEventListener('abort', onAbandoned);
        this.waiters.delete(waiter);
        reject(error);
      };
      const onAbandoned = () => leave(new AdmissionAbandonedError());
      const waiter: Waiter = {
        admit: () => {
          clearTimeout(timer);
          abandoned?.removeEventListener('abort', onAbandoned);
          resolve();
        },
      };
      const timer = setTimeout(() => leave(this.refuse('wait_timeout')), this.limits.maxWaitMs);
      abandoned?.addEventListener('abort', onAbandoned, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Hands the slot straight to the longest waiter, so a newcomer cannot take it past the queue. */
  private release(): void {
    const next = this.waiters.values().next();
    if (next.done) {
      this.running -= 1;
      return;
    }
    this.waiters.delete(next.value);
    next.value.admit();
  }

  private refuse(reason: AdmissionRefusal): AdmissionRefusedError {
    this.onRefused(reason);
    return new AdmissionRefusedError(reason);
  }
}
