import { describe, expect, it } from 'vitest';
import { loggableUrl } from './loggable-url.js';

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
});
