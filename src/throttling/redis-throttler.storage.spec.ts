import type { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';

const ANSWER = [1, 60_000, 0, 0];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A storage over a stand-in for Redis whose next answers the test queues (the real Redis is in the int-spec). */
function storageWithAnswers() {
  const answers: (() => Promise<number[]>)[] = [];
  const redis = { defineCommand: () => undefined, throttleCheck: () => answers.shift()!() };
  const registry = new Registry();
  const metrics = {
    rejected: new Counter({ name: 'rejected', help: 'x', labelNames: ['throttler'], registers: [registry] }),
    failedOpen: new Counter({ name: 'failed_open', help: 'x', registers: [registry] }),
  };
  const storage = new RedisThrottlerStorage(redis as unknown as Redis, metrics, 50);
  return { check: () => storage.increment('k', 60_000, 100, 60_000, 'anonymous'), answers };
}

describe('RedisThrottlerStorage suspension', () => {
  it('ends a suspension when a check sent before it gets its answer', async () => {
    const { check, answers } = storageWithAnswers();
    answers.push(() => Promise.reject(new Error('down')));
    expect((await check()).failedOpen).toBe(true);
    await sleep(260);

    // Answered 30 ms later, within the 50 ms timeout; meanwhile another check fails and suspends limiting.
    answers.push(() => sleep(30).then(() => ANSWER));
    const answeredLate = check();
    answers.push(() => Promise.reject(new Error('down')));
    expect((await check()).failedOpen).toBe(true);
    expect((await answeredLate).failedOpen).toBe(false);

    answers.push(() => Promise.resolve(ANSWER));
    expect((await check()).failedOpen).toBe(false);
    expect(answers).toHaveLength(0);
  });
});
