import type { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LocalThrottleCounts } from './local-throttle-counts.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';

const ANSWER = [1, 60_000, 0, 0];
const DOWN = () => Promise.reject(new Error('down'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A storage over a stand-in for Redis whose next answers the test queues (the real Redis is in the int-spec). */
function storageWithAnswers() {
  const answers: (() => Promise<unknown>)[] = [];
  const refunded: string[][] = [];
  const redis = {
    defineCommand: () => undefined,
    throttleCheck: () => answers.shift()!(),
    throttleCheckFailures: () => answers.shift()!(),
    throttleRefund: (_count: number, ...keys: string[]) => Promise.resolve(refunded.push(keys)),
    throttlePeek: () => answers.shift()!(),
  };
  const registry = new Registry();
  const metrics = {
    rejected: new Counter({ name: 'rejected', help: 'x', labelNames: ['throttler'], registers: [registry] }),
    countedLocally: new Counter({ name: 'counted_locally', help: 'x', registers: [registry] }),
  };
  const local = new LocalThrottleCounts(100, () => undefined);
  const storage = new RedisThrottlerStorage(redis as unknown as Redis, local, metrics, 50);
  const countedLocally = async () => (await metrics.countedLocally.get()).values[0].value;
  return {
    storage,
    check: (limit = 100) => storage.increment('k', 60_000, limit, 60_000, 'anonymous'),
    answers,
    refunded,
    countedLocally,
  };
}

describe('RedisThrottlerStorage suspension', () => {
  it('ends a suspension when a check sent before it gets its answer', async () => {
    const { check, answers } = storageWithAnswers();
    answers.push(DOWN);
    expect((await check()).countedLocally).toBe(true);
    await sleep(260);

    // Answered 30 ms later, within the 50 ms timeout; meanwhile another check fails and suspends limiting.
    answers.push(() => sleep(30).then(() => ANSWER));
    const answeredLate = check();
    answers.push(DOWN);
    expect((await check()).countedLocally).toBe(true);
    expect((await answeredLate).countedLocally).toBe(false);

    answers.push(() => Promise.resolve(ANSWER));
    expect((await check()).countedLocally).toBe(false);
    expect(answers).toHaveLength(0);
  });
});

describe('RedisThrottlerStorage while Redis does not answer', () => {
  it('limits with counts in memory, then drops a count once Redis answers its check', async () => {
    const { check, answers, countedLocally } = storageWithAnswers();
    for (let i = 0; i < 3; i += 1) answers.push(DOWN);
    expect(await check(2)).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 1, timeToExpire: 60 });
    expect(await check(2)).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 2 });
    expect(await check(2)).toMatchObject({ countedLocally: true, isBlocked: true, timeToBlockExpire: 60 });
    expect(await countedLocally()).toBe(3);

    answers.push(() => Promise.resolve(ANSWER), DOWN);
    expect(await check(2)).toMatchObject({ countedLocally: false, totalHits: 1 });
    // Redis fails again: the block counted in memory before it answered is gone, the count starts afresh.
    expect(await check(2)).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 1 });
  });

  it('keeps in memory the hits counted there when Redis gives back one it counted itself', async () => {
    const { storage, check, answers } = storageWithAnswers();
    answers.push(() => Promise.resolve([1, 60_000, 0, 0]), DOWN, DOWN, DOWN);
    expect(await check(2)).toMatchObject({ countedLocally: false, totalHits: 1 });
    // A stall: two more hits, counted in memory only.
    expect(await check(2)).toMatchObject({ countedLocally: true, totalHits: 1 });
    expect(await check(2)).toMatchObject({ countedLocally: true, totalHits: 2 });
    // The first hit, given back in Redis, was never among those in memory.
    await storage.refund([{ key: 'k', countedLocally: false }]);
    expect(await check(2)).toMatchObject({ countedLocally: true, totalHits: 3, isBlocked: true });
  });

  it('gives a hit back where it was counted: in memory, or in Redis', async () => {
    const { storage, answers, refunded } = storageWithAnswers();
    const attempt = () => storage.increment('credentials-account:a', 60_000, 1, 60_000, 'credentials-account');
    answers.push(DOWN, DOWN);
    expect(await attempt()).toMatchObject({ countedLocally: true, isBlocked: false });
    expect(await attempt()).toMatchObject({ countedLocally: true, isBlocked: true });

    await storage.refund([{ key: 'credentials-account:a', countedLocally: true }]);
    expect(refunded).toEqual([]);
    answers.push(DOWN);
    expect(await attempt()).toMatchObject({ countedLocally: true, isBlocked: false, totalHits: 1 });

    await storage.refund([{ key: 'credentials-global:h', countedLocally: false }]);
    expect(refunded).toEqual([['throttle:credentials-global:h:hits', 'throttle:credentials-global:h:block']]);
  });

  it('reads the tiers after a refusal where checks are counted: in memory while Redis does not answer', async () => {
    const { storage, check, answers } = storageWithAnswers();
    for (let i = 0; i < 2; i += 1) answers.push(DOWN);
    await check(1);
    expect(await check(1)).toMatchObject({ countedLocally: true, isBlocked: true });
    const tiers = [{ key: 'k', ttl: 60_000, limit: 1, throttlerName: 'search' }];
    answers.push(DOWN);
    const [[hits, windowMs, blockMs]] = await storage.peek(tiers);
    expect(hits).toBe(2);
    expect(windowMs).toBeGreaterThan(59_000);
    expect(blockMs).toBeGreaterThan(59_000);
    answers.push(() => Promise.resolve([[0, 0, 0]]));
    expect(await storage.peek(tiers)).toEqual([[0, 0, 0]]);
    expect(answers).toHaveLength(0);
  });
});
