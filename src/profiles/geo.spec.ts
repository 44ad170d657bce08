import { describe, expect, it } from 'vitest';
import { BLUR_MAX_KM, blurredLocation, distanceKm, geocellsOf, searchCells, searchOrigin } from './geo.js';

describe('geo', () => {
  it('measures great-circle distance (Paris to London is about 344 km)', () => {
    expect(distanceKm({ lat: 48.8566, lng: 2.3522 }, { lat: 51.5074, lng: -0.1278 })).toBeCloseTo(343.5, 0);
    expect(distanceKm({ lat: 10, lng: 10 }, { lat: 10, lng: 10 })).toBe(0);
  });

  it('starts nearby searches from a 0.001° grid, under 0.1 km from the caller', () => {
    expect(searchOrigin(52.520_04, 13.404_51)).toEqual({ lat: 52.52, lng: 13.405 });
    expect(searchOrigin(-33.868_6, -0.000_4)).toEqual({ lat: -33.869, lng: 0 });
    expect(searchOrigin(89.999_9, 179.999_9)).toEqual({ lat: 90, lng: 180 });
    for (let i = 0; i < 1_000; i += 1) {
      const caller = { lat: Math.random() * 170 - 85, lng: Math.random() * 360 - 180 };
      expect(distanceKm(caller, searchOrigin(caller.lat, caller.lng))).toBeLessThan(0.1);
    }
  });

  it('places members at the centre of their 0.01° cell, within BLUR_MAX_KM of where they are', () => {
    expect(blurredLocation({ lat: 47.123_456, lng: 8.654_321 })).toEqual({ lat: 47.125, lng: 8.655 });
    expect(blurredLocation({ lat: 47.129_9, lng: 8.650_1 })).toEqual({ lat: 47.125, lng: 8.655 });
    expect(blurredLocation({ lat: -0.001, lng: -179.999 })).toEqual({ lat: -0.005, lng: -179.995 });
    for (let i = 0; i < 1_000; i += 1) {
      const member = { lat: Math.random() * 170 - 85, lng: Math.random() * 360 - 180 };
      expect(distanceKm(member, blurredLocation(member))).toBeLessThan(BLUR_MAX_KM);
    }
  });

  it('stores nested prefixes of one geohash', () => {
    const [p3, p4, p5] = geocellsOf(48.8566, 2.3522);
    expect(p4.startsWith(p3)).toBe(true);
    expect(p5.startsWith(p4)).toBe(true);
  });

  it('covers every point within the radius by the 9 search cells', () => {
    for (const center of [
      { lat: 52.52, lng: 13.405 },
      { lat: -33.87, lng: 151.21 },
      { lat: 0.1, lng: -179.99 },
      { lat: 69.65, lng: 18.96 },
    ])
      for (const radiusKm of [1, 4.9, 10, 19.5, 50, 100]) {
        const cells = new Set(searchCells(center.lat, center.lng, radiusKm));
        const precision = [...cells][0].length;
        // Points on a ring just inside the radius, in 72 directions.
        for (let bearing = 0; bearing < 360; bearing += 5) {
          const rad = (bearing * Math.PI) / 180;
          const dLat = ((radiusKm * 0.999) / 111.32) * Math.cos(rad);
          const dLng = ((radiusKm * 0.999) / (111.32 * Math.cos((center.lat * Math.PI) / 180))) * Math.sin(rad);
          const lng = ((center.lng + dLng + 540) % 360) - 180;
          const cell = geocellsOf(center.lat + dLat, lng).find((c) => c.length === precision);
          expect(cells.has(cell!)).toBe(true);
        }
      }
  });
});
