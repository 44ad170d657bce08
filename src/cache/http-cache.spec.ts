import { describe, expect, it } from 'vitest';
import { withVary } from './http-cache.js';

describe('withVary', () => {
  it("is the route's value when the reply has no Vary yet", () => {
    expect(withVary(undefined, 'accept-encoding')).toBe('accept-encoding');
  });

  it('keeps what is there (Origin from CORS) and adds each field name once, in lower case', () => {
    expect(withVary('Origin', 'authorization, accept-encoding')).toBe('origin, authorization, accept-encoding');
    expect(withVary('Origin, Accept-Encoding', 'accept-encoding')).toBe('origin, accept-encoding');
    expect(withVary(['Origin', 'X-Thing'], 'accept-encoding')).toBe('origin, x-thing, accept-encoding');
  });

  it('leaves Vary: * as it is: nothing narrows it', () => {
    expect(withVary('*', 'accept-encoding')).toBe('*');
  });
});
