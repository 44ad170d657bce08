import { describe, expect, it } from 'vitest';
import { loggableError } from './loggable-error.js';

describe('loggableError', () => {
  it('writes no stack for an error that has none, rather than the word "undefined"', () => {
    expect(loggableError({ message: 'refused by the provider', code: 'E_PROVIDER' })).toEqual({
      message: 'refused by the provider',
      code: 'E_PROVIDER',
    });
  });

  // Node's connect to a name with an IPv4 and an IPv6 address (autoSelectFamily) fails with an AggregateError whose own
  // message is empty: what failed, and where, is in its errors.
  it("keeps an AggregateError's errors, each as loggable as the error itself", () => {
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED', address, port: 6379 });
    const aggregate = Object.assign(new AggregateError([refused('::1'), refused('127.0.0.1')], ''), {
      code: 'ECONNREFUSED',
    });
    const logged = loggableError(aggregate) as { aggregateErrors?: { message: string; code: string }[] };
    expect(logged.aggregateErrors).toEqual([
      expect.objectContaining({ message: 'connect ECONNREFUSED ::1', code: 'ECONNREFUSED' }),
      expect.objectContaining({ message: 'connect ECONNREFUSED 127.0.0.1', code: 'ECONNREFUSED' }),
    ]);
  });
});
