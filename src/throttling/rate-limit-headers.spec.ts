import { describe, expect, it } from 'vitest';
import { reportedLimit, retryAfterS, type AppliedLimit } from './rate-limit-headers.js';

const tier = (limit: number, remaining: number, resetS: number): AppliedLimit => ({
  limit,
  windowS: 900,
  remaining,
  resetS,
});

describe('reportedLimit', () => {
  it('reports the tier that refused the request, not an earlier one with as little left', () => {
    // Login: the 10th attempt from this address used up `credentials` (10), then `credentials-account` (5) refused it.
    const credentials = tier(10, 0, 300);
    const credentialsAccount = tier(5, 0, 900);
    expect(reportedLimit([credentials, credentialsAccount], credentialsAccount)).toBe(credentialsAccount);
  });

  it('otherwise reports the tier with the least remaining', () => {
    const user = tier(1000, 990, 800);
    const search = tier(300, 290, 100);
    expect(reportedLimit([user, search])).toBe(search);
  });

  it('of two tiers with as little remaining, reports the one that resets later: the caller waits for both', () => {
    const anonymous = tier(100, 0, 5);
    const search = tier(300, 0, 800);
    expect(reportedLimit([anonymous, search])).toBe(search);
    expect(reportedLimit([search, anonymous])).toBe(search);
  });
});

describe('retryAfterS', () => {
  it('is the rest of the block, unless a tier checked before has nothing left for longer', () => {
    const search = tier(30, 0, 60);
    expect(retryAfterS([tier(100, 5, 900), search], search, 60)).toBe(60);
    // The refused search took the general tier's last request: a retry after 60 s would be refused by it.
    expect(retryAfterS([tier(100, 0, 840), search], search, 60)).toBe(840);
  });

  it('leaves out the failed-login tiers, which a refused attempt gives its hits back in', () => {
    const credentialsAccount = { ...tier(5, 0, 900), failuresOnly: true };
    const credentialsGlobal = { ...tier(100, 0, 300), failuresOnly: true };
    expect(retryAfterS([credentialsAccount, credentialsGlobal], credentialsGlobal, 300)).toBe(300);
  });

  it('also waits for a tier after the one that refused, read without counting, failed-login tiers included', () => {
    const anonymous = tier(100, 0, 60);
    const search = { ...tier(30, 0, 840), uncounted: true };
    expect(retryAfterS([anonymous, search], anonymous, 60)).toBe(840);
    expect(retryAfterS([anonymous, { ...search, remaining: 1 }], anonymous, 60)).toBe(60);
    // Refused by its address's limit while the account's limit over all addresses holds longer.
    const credentials = tier(10, 0, 300);
    const credentialsGlobal = { ...tier(100, 0, 700), failuresOnly: true, uncounted: true };
    expect(retryAfterS([anonymous, credentials, credentialsGlobal], credentials, 300)).toBe(700);
  });

  it('is at least a second', () => {
    const anonymous = tier(100, 0, 0);
    expect(retryAfterS([anonymous], anonymous, 0)).toBe(1);
  });
});
