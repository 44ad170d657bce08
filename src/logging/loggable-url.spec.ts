import { describe, expect, it, vi } from 'vitest';
import { loggableUrl, MAX_LOGGED_URL_LENGTH } from './loggable-url.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';

describe('loggableUrl', () => {
  it('keeps a URL without credentials as it is', () => {
    const url = '/v1/profiles?city=Berlin&interests=a,b&fields=displayName&limit=20';
    expect(loggableUrl(url)).toBe(url);
    expect(loggableUrl('/v1/profiles/665f1c2e8a1b2c3d4e5f6a7b')).toBe('/v1/profiles/665f1c2e8a1b2c3d4e5f6a7b');
  });

  it('redacts the values of parameters that name a credential or an email, keeping their names', () => {
    expect(loggableUrl('/v1/auth/login?email=ann%40example.com&password=hunter22&x=1')).toBe(
      '/v1/auth/login?email=[redacted]&password=[redacted]&x=1',
    );
    expect(loggableUrl('/v1/x?access%5Ftoken=abc&API-KEY=k&currentPassword=p')).toBe(
      '/v1/x?access%5Ftoken=[redacted]&API-KEY=[redacted]&currentPassword=[redacted]',
    );
  });

  it("redacts a nearby search's coordinates, keeping the rest of its query", () => {
    expect(loggableUrl('/v1/profiles/nearby?lat=52.520008&lng=13.404954&radiusKm=5')).toBe(
      '/v1/profiles/nearby?lat=[redacted]&lng=[redacted]&radiusKm=5',
    );
    expect(loggableUrl('/v1/profiles/nearby?Latitude=1&lon=2&plate=3')).toBe(
      '/v1/profiles/nearby?Latitude=[redacted]&lon=[redacted]&plate=3',
    );
  });

  it('redacts a JWT wherever it is: in the path, under any name, as a bare parameter', () => {
    expect(loggableUrl(`/v1/profiles/${JWT}?t=${JWT}&${JWT}`)).toBe('/v1/profiles/[redacted]?t=[redacted]&[redacted]');
  });

  it('copes with names that do not decode and with empty queries', () => {
    expect(loggableUrl('/v1/x?%E0%A4%A=1&token%ZZ=2')).toBe('/v1/x?%E0%A4%A=1&token%ZZ=[redacted]');
    expect(loggableUrl('/v1/x?')).toBe('/v1/x?');
  });

  it('looks for JWTs in at most MAX_LOGGED_URL_LENGTH characters of a URL, and marks where it was cut', () => {
    // Each "eyJ" is read to the end of its run: a 16 KB URL of them held the event loop for 85 ms on every request.
    const replace = vi.spyOn(String.prototype, 'replace');
    let logged: string;
    try {
      logged = loggableUrl(`/v1/${'eyJ'.repeat(5_300)}?x=${'eyJ'.repeat(5_300)}`);
      const longest = Math.max(0, ...replace.mock.contexts.map((text) => String(text).length));
      expect(longest).toBeLessThanOrEqual(MAX_LOGGED_URL_LENGTH + '[truncated]'.length);
    } finally {
      replace.mockRestore();
    }
    // The cut falls in a run of token characters, which is dropped whole: the run could be part of a JWT.
    expect(logged).toBe('/v1/[truncated]');
    const query = `?city=Berlin&x=${'a'.repeat(MAX_LOGGED_URL_LENGTH)}`;
    expect(loggableUrl(`/v1/profiles${query}`)).toBe('/v1/profiles?city=Berlin&x=[truncated]');
  });

  it('redacts what is left of a URL it cuts', () => {
    const padding = 'a'.repeat(MAX_LOGGED_URL_LENGTH - 100);
    expect(loggableUrl(`/v1/${padding}/${JWT}?password=p&${'b'.repeat(MAX_LOGGED_URL_LENGTH)}`)).toBe(
      `/v1/${padding}/[redacted]?password=[redacted]&[truncated]`,
    );
    const cutToken = `/v1/${padding}/${JWT.repeat(10)}`;
    expect(loggableUrl(cutToken)).toBe(`/v1/${padding}/[truncated]`);
  });
});
