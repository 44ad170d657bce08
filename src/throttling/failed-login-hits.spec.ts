import type { FastifyReply, FastifyRequest } from 'fastify';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { markPasswordUnchecked, noteHit, refundUnlessLoginFailed } from './failed-login-hits.js';
import type { CountedHit, RedisThrottlerStorage } from './redis-throttler.storage.js';

/**
 * A login attempt the guard counted in every credentials tier, answered `status`; returns what was given back.
 * `markedOnClose`: marked unchecked only as its reply closes, as a request that leaves the hashing queue is.
 */
async function answered(
  status: number,
  { counted = true, finished = true, unchecked = false, markedOnClose = false } = {},
): Promise<CountedHit[][]> {
  const refunded: CountedHit[][] = [];
  const storage = { refund: (hits: CountedHit[]) => Promise.resolve(void refunded.push(hits)) };
  const request = {} as FastifyRequest;
  if (counted) {
    noteHit(request, 'credentials', { key: 'credentials:203.0.113.1', countedLocally: false });
    noteHit(request, 'credentials-account', { key: 'credentials-account:203.0.113.1:hash', countedLocally: true });
    noteHit(request, 'credentials-global', { key: 'credentials-global:hash', countedLocally: false });
  }
  const raw = Object.assign(new EventEmitter(), { statusCode: 200, writableFinished: false });
  refundUnlessLoginFailed(request, { raw } as unknown as FastifyReply, storage as unknown as RedisThrottlerStorage);
  expect(refunded).toEqual([]);
  if (unchecked) markPasswordUnchecked(request);
  raw.statusCode = status;
  raw.writableFinished = finished;
  if (markedOnClose) raw.once('close', () => queueMicrotask(() => markPasswordUnchecked(request)));
  raw.emit('close');
  raw.emit('close');
  await new Promise((resolve) => setImmediate(resolve));
  return refunded;
}

// Each with where it was counted (here, one check Redis did not answer), so that the refund goes there.
const FAILED_LOGIN_HITS = [
  [
    { key: 'credentials-account:203.0.113.1:hash', countedLocally: true },
    { key: 'credentials-global:hash', countedLocally: false },
  ],
];

describe('refundUnlessLoginFailed', () => {
  it('gives the failed-login hits back, once, when the login succeeds', async () => {
    expect(await answered(200)).toEqual(FAILED_LOGIN_HITS);
  });

  it('keeps them when the answer is 401', async () => {
    expect(await answered(401)).toEqual([]);
  });

  it.each([400, 429])('gives them back when the answer is %i: no password was found wrong', async (status) => {
    expect(await answered(status)).toEqual(FAILED_LOGIN_HITS);
  });

  it.each([500, 503])(
    'keeps them when the answer is %i: the check may have gone ahead past the deadline',
    async (status) => {
      expect(await answered(status)).toEqual([]);
    },
  );

  it("gives every credentials hit back, the address's attempt too, when the hashing bound refused it", async () => {
    // Nothing was checked: a client retrying after Retry-After must not use up its address's attempts on refusals.
    const allHits = [[{ key: 'credentials:203.0.113.1', countedLocally: false }, ...FAILED_LOGIN_HITS[0]]];
    expect(await answered(503, { unchecked: true })).toEqual(allHits);
    expect(await answered(503, { unchecked: true, finished: false })).toEqual(allHits);
  });

  it('gives them all back when the client left while waiting for a hashing slot: nothing was checked', async () => {
    // Leaving the queue is marked while the reply's close is handled, not before it.
    const allHits = [[{ key: 'credentials:203.0.113.1', countedLocally: false }, ...FAILED_LOGIN_HITS[0]]];
    expect(await answered(200, { finished: false, markedOnClose: true })).toEqual(allHits);
  });

  it('keeps them when the client left before the answer: the check, or the change, went ahead without it', async () => {
    expect(await answered(200, { finished: false })).toEqual([]);
  });

  it('does nothing for a request without failed-login hits', async () => {
    expect(await answered(200, { counted: false })).toEqual([]);
  });
});
