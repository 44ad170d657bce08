import { cellBox, cellDistanceKm, type GridCell } from './geo.js';
import type { NearbyArea } from './list-queries.js';
import type { ProfilesRepository } from './profiles.repository.js';

/** How far the first count reaches: in a city it already holds a page. */
const FIRST_REACH_KM = 2;
/** How much further each next count reaches; at most 5 counts up to 100 km (2, 6, 18, 54, 100). */
const REACH_GROWTH = 3;

type CellsReader = Pick<ProfilesRepository, 'countByCell' | 'inCells'>;

type CountedCell = GridCell & { count: number; distance: number };

/**
 * The `limit` public profiles nearest to the area's point within its radius (nearest first, ties by id), each at the
 * centre of its 0.01° cell, with its distance in km. Members share their cell's distance, so the search counts
 * members per cell in growing boxes around the point until the cells it has fully counted hold a page, then reads
 * the ids of just the cells that page needs: at most `limit` profiles, however many live nearby
 * (docs/decisions/0034-nearby-by-counted-cells.md).
 */
export async function nearestInArea(
  profiles: CellsReader,
  area: NearbyArea,
): Promise<{ id: string; distance: number }[]> {
  const cells = await cellsHoldingPage(profiles, area);
  const { whole, tied, rest } = pageCells(cells, area.limit);
  const [inWhole, fromTied] = await Promise.all([
    whole.length > 0 ? profiles.inCells(whole, area.limit) : [],
    tied.length > 0 ? profiles.inCells(tied, rest) : [],
  ]);
  return [...inWhole, ...fromTied]
    .map(({ id, cell }) => ({ id, distance: cellDistanceKm(area, cell) }))
    .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, area.limit);
}

/**
 * The non-empty cells within the radius, nearest first, up to a distance that holds a page: a box that reaches
 * `reach` km holds every cell centre within `reach`, so those cells are counted completely.
 */
async function cellsHoldingPage(profiles: CellsReader, area: NearbyArea): Promise<CountedCell[]> {
  for (let reach = Math.min(FIRST_REACH_KM, area.radiusKm); ; reach = Math.min(area.radiusKm, reach * REACH_GROWTH)) {
    const counted = (await profiles.countByCell(cellBox(area, reach)))
      .map((cell) => ({ ...cell, distance: cellDistanceKm(area, cell) }))
      .filter((cell) => cell.distance <= reach && cell.distance <= area.radiusKm)
      .sort((a, b) => a.distance - b.distance);
    const members = counted.reduce((sum, cell) => sum + cell.count, 0);
    if (reach >= area.radiusKm || members >= area.limit) return counted;
  }
}

/**
 * Which cells a page of `limit` takes: `whole` cells with all their members, then the cells at the next distance,
 * `tied`, from which only the `rest` smallest ids fit.
 */
function pageCells(cells: CountedCell[], limit: number): { whole: GridCell[]; tied: GridCell[]; rest: number } {
  const whole: GridCell[] = [];
  let taken = 0;
  for (let start = 0; start < cells.length && taken < limit;) {
    let end = start + 1;
    while (end < cells.length && cells[end].distance === cells[start].distance) end += 1;
    const group = cells.slice(start, end);
    const count = group.reduce((sum, cell) => sum + cell.count, 0);
    if (taken + count > limit) return { whole, tied: group, rest: limit - taken };
    whole.push(...group);
    taken += count;
    start = end;
  }
  return { whole, tied: [], rest: 0 };
}
