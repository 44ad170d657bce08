import { describe, expect, it } from 'vitest';
import { cellCentre, cellBox, distanceKm, gridCellOf, searchOrigin, type CellBox, type GridCell } from './geo.js';

/** The point `km` away from `from` along `bearing` degrees (great circle), longitude in [-180, 180). */
function destination(from: { lat: number; lng: number }, km: number, bearing: number): { lat: number; lng: number } {
  const rad = Math.PI / 180;
  const angle = km / 6371.0088;
  const lat = Math.asin(
    Math.sin(from.lat * rad) * Math.cos(angle) + Math.cos(from.lat * rad) * Math.sin(angle) * Math.cos(bearing * rad),
  );
  const dLng = Math.atan2(
    Math.sin(bearing * rad) * Math.sin(angle) * Math.cos(from.lat * rad),
    Math.cos(angle) - Math.sin(from.lat * rad) * Math.sin(lat),
  );
  return { lat: lat / rad, lng: (((((from.lng * rad + dLng) / rad + 540) % 360) + 360) % 360) - 180 };
}

const inBox = (box: CellBox, cell: GridCell) =>
  cell.row >= box.rows[0] &&
  cell.row <= box.rows[1] &&
  box.cols.some(([west, east]) => cell.col >= west && cell.col <= east);

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

  it('places members at the centre of their 0.01° cell, within 0.8 km of where they are', () => {
    expect(cellCentre(gridCellOf({ lat: 47.123_456, lng: 8.654_321 }))).toEqual({ lat: 47.125, lng: 8.655 });
    expect(cellCentre(gridCellOf({ lat: 47.129_9, lng: 8.650_1 }))).toEqual({ lat: 47.125, lng: 8.655 });
    expect(cellCentre(gridCellOf({ lat: -0.001, lng: -179.999 }))).toEqual({ lat: -0.005, lng: -179.995 });
    for (let i = 0; i < 1_000; i += 1) {
      const member = { lat: Math.random() * 170 - 85, lng: Math.random() * 360 - 180 };
      expect(distanceKm(member, cellCentre(gridCellOf(member)))).toBeLessThan(0.8);
    }
  });

  it('numbers cells from the equator and Greenwich, negative south and west', () => {
    expect(gridCellOf({ lat: 52.5234, lng: 13.4011 })).toEqual({ row: 5252, col: 1340 });
    expect(gridCellOf({ lat: -0.001, lng: -179.999 })).toEqual({ row: -1, col: -18000 });
    // The pole in the last row, 180° as -180°: every cell's centre is on the globe.
    expect(gridCellOf({ lat: 90, lng: 180 })).toEqual({ row: 8999, col: -18000 });
    expect(gridCellOf({ lat: -90, lng: -180 })).toEqual({ row: -9000, col: -18000 });
  });

  it('boxes every cell whose centre is within reach, across the 180th meridian and over the poles', () => {
    const origins = [
      { lat: 52.52, lng: 13.405 },
      { lat: -33.87, lng: 151.21 },
      { lat: 0.1, lng: -179.99 },
      { lat: -12.5, lng: 179.95 },
      { lat: 69.65, lng: 18.96 },
      { lat: 89.5, lng: 40 },
      { lat: -89.9, lng: -120 },
      { lat: 0, lng: 180 },
    ];
    for (const origin of origins)
      for (const reachKm of [0.5, 2, 6, 18, 54, 100]) {
        const box = cellBox(origin, reachKm);
        for (let i = 0; i < 2_000; i += 1) {
          // Just inside the reach in every direction, and anywhere inside it.
          const km = i % 2 === 0 ? reachKm * 0.999_99 : reachKm * Math.sqrt(Math.random());
          const cell = gridCellOf(destination(origin, km, Math.random() * 360));
          if (distanceKm(origin, cellCentre(cell)) <= reachKm)
            expect(inBox(box, cell), JSON.stringify({ origin, reachKm, cell, box })).toBe(true);
        }
      }
  });

  it('keeps the box small: about the reach on each side, not a band around the globe', () => {
    const box = cellBox({ lat: 52.52, lng: 13.405 }, 10);
    expect(box.rows[1] - box.rows[0]).toBeLessThanOrEqual(2 + Math.ceil((2 * 10) / 1.11));
    expect(box.cols).toHaveLength(1);
    // About 0.68 km per column at this latitude.
    expect(box.cols[0][1] - box.cols[0][0]).toBeLessThanOrEqual(2 + Math.ceil((2 * 10) / 0.67));
    expect(cellBox({ lat: 0, lng: 179.99 }, 5).cols).toEqual([
      [expect.any(Number), 17_999],
      [-18_000, expect.any(Number)],
    ]);
  });
});
