import { describe, expect, it } from 'vitest';
import { queryDecodes } from './query-encoding.js';

describe('queryDecodes', () => {
  it('passes query strings without escapes, with UTF-8 escapes or with none at all', () => {
    for (const url of [
      '/v1/profiles',
      '/v1/profiles?city=Berlin&limit=5',
      '/v1/profiles?city=Z%C3%BCrich&interests=a,b',
      '/v1/profiles?city=New+York&x=%F0%9F%99%82',
      '/v1/profiles?city=%25',
    ]) {
      expect(queryDecodes(url), url).toBe(true);
    }
  });

  it('refuses broken escapes and escapes that are not UTF-8', () => {
    // A bad escape, one cut short, Latin-1 "é", an overlong "/", a surrogate encoded as UTF-8, a lone continuation byte.
    for (const query of ['city=%ZZ', 'city=a%2', 'city=caf%E9', 'city=%C0%AF', 'city=%ED%A0%80', 'cursor=%80']) {
      expect(queryDecodes(`/v1/profiles?limit=5&${query}`), query).toBe(false);
    }
  });
});
