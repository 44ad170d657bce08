/**
 * When, after a write that failed, its keys and tags are invalidated again: doubling from 1 s to 64 s, after the second
 * pass at 500 ms (SECOND_INVALIDATION_MS). A write whose answer was lost may still land: a database server that stalled
 * past the driver's socket timeout runs the command waiting in its socket once it resumes, and a reader that loaded the
 * old value meanwhile would keep it cached, on every instance, for the whole TTL. With these passes, a write landing
 * t ≤ 64 s after its failure is shown at most max(t, 1) s and a tick after it lands; one landing later, within the TTL.
 */
export const LATE_INVALIDATION_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000];
/** How often due passes are collected: all that fall due within one tick go out as one invalidation. */
const TICK_MS = 250;
/**
 * The most keys and tags waiting for their passes. While the database fails every write for a minute, each failed
 * write's keys wait here; past this, those that failed longest ago lose their remaining passes first.
 */
export const MAX_LATE_INVALIDATIONS = 10_000;
/** Keys and tags per invalidation: one Redis script and one message each. */
const BATCH = 500;

interface Due {
  failedAt: number;
  /** Index into LATE_INVALIDATION_DELAYS_MS of the pass this waits for. */
  pass: number;
}

/**
 * The passes still to come for the keys and tags of failed writes, in one timer. A key whose write fails again starts
 * its passes again; one already waiting is held once.
 */
export class LateInvalidations {
  /** By `k:<full key>` or `t:<tag>`, in the order their writes failed. */
  private readonly waiting = new Map<string, Due>();
  private timer?: NodeJS.Timeout;
  /** The cache is closing: a write failing now (a job finishing during shutdown) would start the timer again. */
  private stopped = false;

  constructor(private readonly invalidate: (fullKeys: string[], tags: string[]) => Promise<void>) {}

  add(fullKeys: readonly string[], tags: readonly string[]): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const item of [...fullKeys.map((key) => `k:${key}`), ...tags.map((tag) => `t:${tag}`)]) {
      this.waiting.delete(item); // re-inserted last: the order stays that of the latest failure
      this.waiting.set(item, { failedAt: now, pass: 0 });
    }
    for (const item of this.waiting.keys()) {
      if (this.waiting.size <= MAX_LATE_INVALIDATIONS) break;
      this.waiting.delete(item);
    }
    this.timer ??= setInterval(() => void this.runDue(), TICK_MS).unref();
  }

  /** Keys and tags still waiting for a pass. */
  get size(): number {
    return this.waiting.size;
  }

  /** Drops every pass still to come (the cache is closing). */
  stop(): void {
    this.stopped = true;
    this.idle();
    this.waiting.clear();
  }

  private idle(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async runDue(): Promise<void> {
    const now = Date.now();
    const due: string[] = [];
    for (const [item, { failedAt, pass }] of this.waiting) {
      if (failedAt + LATE_INVALIDATION_DELAYS_MS[pass] > now) continue;
      due.push(item);
      if (pass + 1 < LATE_INVALIDATION_DELAYS_MS.length) this.waiting.set(item, { failedAt, pass: pass + 1 });
      else this.waiting.delete(item);
    }
    if (this.waiting.size === 0) this.idle();
    // Stopped during an earlier batch: the connections are closing.
    for (let at = 0; at < due.length && !this.stopped; at += BATCH) {
      const batch = due.slice(at, at + BATCH);
      const keys = batch.filter((item) => item.startsWith('k:')).map((item) => item.slice(2));
      const tags = batch.filter((item) => item.startsWith('t:')).map((item) => item.slice(2));
      await this.invalidate(keys, tags);
    }
  }
}
