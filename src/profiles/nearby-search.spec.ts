import { describe, expect, it } from 'vitest';
import { cellCentre, cellDistanceKm, distanceKm, gridCellOf, type CellBox, type GridCell } from './geo.js';
import { nearestInArea } from './nearby-search.js';

interface Member {
  id: string;
  lat: number;
  lng: number;
}

/**
 * The repository's two reads over members held in memory, answering as the database would (the integration with the
 * database is in test/e2e/nearby.e2e-spec.ts), and counting the profiles each read returns.
 */
function cellsReader(members: Member[]) {
  const reads = { counts: 0, profiles: 0 };
  const cellOf = (member: Member) => gridCellOf(member);
  const inBox = (box: CellBox, cell: GridCell) =>
    cell.row >= box.rows[0] &&
    cell.row <= box.rows[1] &&
    box.cols.some(([west, east]) => cell.col >= west && cell.col <= east);
  return {
    reads,
    countByCell(box: CellBox) {
      reads.counts += 1;
      const counts = new Map<string, GridCell & { count: number }>();
      for (const member of members) {
        const cell = cellOf(member);
        if (!inBox(box, cell)) continue;
        const key = `${cell.row}:${cell.col}`;
        counts.set(key, { ...cell, count: (counts.get(key)?.count ?? 0) + 1 });
      }
      return Promise.resolve([...counts.values()]);
    },
    inCells(cells: readonly GridCell[], limit: number) {
      const found = members
        .filter((member) => cells.some((cell) => cell.row === cellOf(member).row && cell.col === cellOf(member).col))
        .sort((a, b) => (a.id < b.id ? -1 : 1))
        .slice(0, limit)
        .map((member) => ({ id: member.id, cell: cellOf(member) }));
      reads.profiles += found.length;
      return Promise.resolve(found);
    },
  };
}

/** What the search must return: every member measured from its cell centre, nearest first, ties by id. */
function bruteForce(members: Member[], area: { lat: number; lng: number; radiusKm: number; limit: number }) {
  return members
    .map((member) => ({ id: member.id, distance: cellDistanceKm(area, gridCellOf(member)) }))
    .filter((member) => member.distance <= area.radiusKm)
    .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1))
    .slice(0, area.limit);
}

let nextId = 0;
const id = () => (nextId++).toString(16).padStart(24, '0');
/** `count` members scattered up to `spreadDeg` around a point, some of them sharing cells. */
function scatter(count: number, around: { lat: number; lng: number }, spreadDeg: number): Member[] {
  return Array.from({ length: count }, () => ({
    id: id(),
    lat: Math.max(-90, Math.min(90, around.lat + (Math.random() - 0.5) * spreadDeg)),
    lng: ((around.lng + (Math.random() - 0.5) * spreadDeg + 540) % 360) - 180,
  }));
}

describe('nearestInArea', () => {
  it.each([
    ['a city', { lat: 52.52, lng: 13.405 }, 0.5],
    ['a countryside', { lat: 47.1, lng: 8.6 }, 3],
    ['the 180th meridian', { lat: -16.5, lng: 179.99 }, 2],
    ['near a pole', { lat: 89.3, lng: 10 }, 3],
  ])('returns what measuring every member returns, in %s', async (_place, origin, spreadDeg) => {
    const members = [...scatter(400, origin, spreadDeg), ...scatter(60, origin, 0.02)];
    for (const radiusKm of [1, 5, 20, 100])
      for (const limit of [1, 5, 20, 100]) {
        const area = { ...origin, radiusKm, limit };
        expect(await nearestInArea(cellsReader(members), area), JSON.stringify(area)).toEqual(
          bruteForce(members, area),
        );
      }
  });

  it('returns what measuring every member returns where a few live, in many random layouts', async () => {
    // A count's box reaches further in its corners than the reach: members there must not fill a page ahead of
    // nearer ones just outside the box.
    for (let layout = 0; layout < 300; layout += 1) {
      const origin = { lat: Math.round(Math.random() * 120_000 - 60_000) / 1_000, lng: 0.123 };
      const members = scatter(6, origin, 0.1);
      for (const limit of [1, 2, 3]) {
        const area = { ...origin, radiusKm: 20, limit };
        expect(await nearestInArea(cellsReader(members), area), JSON.stringify(area)).toEqual(
          bruteForce(members, area),
        );
      }
    }
  });

  it('finds members at the north pole and on the 180th meridian from either side', async () => {
    const pole = Array.from({ length: 100 }, () => ({ id: id(), lat: 90, lng: Math.random() * 360 - 180 }));
    const meridian = Array.from({ length: 10 }, () => ({ id: id(), lat: -16.8, lng: 180 }));
    const members = [...pole, ...meridian];
    for (const area of [
      { lat: 89.98, lng: -179.995, radiusKm: 2, limit: 20 },
      { lat: 89.99, lng: 0.005, radiusKm: 1, limit: 100 },
      { lat: -16.8, lng: -179.999, radiusKm: 1, limit: 20 },
      { lat: -16.8, lng: 179.999, radiusKm: 1, limit: 20 },
    ]) {
      const page = await nearestInArea(cellsReader(members), area);
      expect(page, JSON.stringify(area)).toEqual(bruteForce(members, area));
      expect(page.length, JSON.stringify(area)).toBeGreaterThan(0);
    }
  });

  it('breaks ties between cells exactly as far from the point by id, not by rounding noise', async () => {
    // From a cell centre, the cells east and west of it are exactly as far; their haversine distances differ by about
    // 1e-12 km, one way or the other. The smaller id goes in the cell that noise would put first, the larger in the other.
    for (let i = 0; i < 200; i += 1) {
      const cell = {
        row: Math.floor(Math.random() * 12_000) - 6_000,
        col: Math.floor(Math.random() * 30_000) - 15_000,
      };
      const origin = cellCentre(cell);
      const [east, west] = [1, -1].map((step) => cellCentre({ row: cell.row, col: cell.col + step }));
      const [first, second] = distanceKm(origin, east) > distanceKm(origin, west) ? [east, west] : [west, east];
      const members = [
        { id: id(), ...first },
        { id: id(), ...second },
      ];
      const page = await nearestInArea(cellsReader(members), { ...origin, radiusKm: 5, limit: 1 });
      expect(
        page.map((member) => member.id),
        JSON.stringify(origin),
      ).toEqual([members[0].id]);
    }
  });

  it('takes the smallest ids of a cell that holds more members than the page has room for', async () => {
    const centre = { lat: 40.005, lng: -3.705 };
    // 50 members in one cell, 3 in the cell north of it.
    const members = [
      ...Array.from({ length: 50 }, () => ({ id: id(), lat: 40.004, lng: -3.706 })),
      ...Array.from({ length: 3 }, () => ({ id: id(), lat: 40.014, lng: -3.706 })),
    ].reverse();
    const page = await nearestInArea(cellsReader(members), { ...centre, radiusKm: 5, limit: 20 });
    expect(page).toEqual(bruteForce(members, { ...centre, radiusKm: 5, limit: 20 }));
    expect(page.map((member) => member.id)).toEqual(
      members
        .slice(3)
        .map((member) => member.id)
        .sort()
        .slice(0, 20),
    );
  });

  it('reads at most a page of profiles, however many live in the radius', async () => {
    const city = { lat: 48.857, lng: 2.352 };
    const members = scatter(20_000, city, 0.5);
    const reader = cellsReader(members);
    const page = await nearestInArea(reader, { ...city, radiusKm: 100, limit: 20 });
    expect(page).toHaveLength(20);
    expect(reader.reads.profiles).toBeLessThanOrEqual(20);
    // The first count, 2 km around the point, already holds a page.
    expect(reader.reads.counts).toBe(1);
  });

  it('widens the count until the radius where few live, and returns everyone there', async () => {
    const origin = { lat: 61.2, lng: 24.5 };
    const members = scatter(5, { lat: 61.9, lng: 24.5 }, 0.05);
    const reader = cellsReader(members);
    const page = await nearestInArea(reader, { ...origin, radiusKm: 100, limit: 20 });
    expect(page.map((member) => member.id).sort()).toEqual(members.map((member) => member.id).sort());
    // 2, 6, 18, 54 and 100 km.
    expect(reader.reads.counts).toBe(5);
  });
});
