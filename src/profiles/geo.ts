export const MAX_NEARBY_RADIUS_KM = 100;

const EARTH_RADIUS_KM = 6371.0088;

/** Great-circle distance in km (haversine). */
export function distanceKm(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Degrees per step of the grid that nearby searches start from (about 111 m north-south). */
const QUERY_GRID_DEG = 0.001;

/**
 * The point a nearby search starts from: the caller's, on a 0.001° grid. Callers standing close together (GPS
 * readings jitter by metres) share one cached page, and a cache key cannot be varied by moving a few centimetres.
 * Distances move by less than 0.1 km: a shown whole-kilometre distance near a rounding boundary, or a profile near
 * the radius, can come out one kilometre or one profile different.
 */
export function searchOrigin(lat: number, lng: number): { lat: number; lng: number } {
  const snap = (degrees: number) => Number((Math.round(degrees / QUERY_GRID_DEG) * QUERY_GRID_DEG).toFixed(3));
  return { lat: snap(lat), lng: snap(lng) };
}

/** Side of the cells members are placed in for nearby search: 0.01°, about 1.1 km north-south. */
const CELL_DEG = 0.01;
/** The grid's rows run from -9000 (at the south pole) to 8999 (at the north pole), its columns from -18000 to 17999. */
const FIRST_ROW = -90 / CELL_DEG;
const LAST_ROW = 90 / CELL_DEG - 1;
const FIRST_COL = -180 / CELL_DEG;
const LAST_COL = 180 / CELL_DEG - 1;
const COLS = LAST_COL - FIRST_COL + 1;

/** A 0.01° cell of the grid: `row` counts cells north of the equator (negative south), `col` east of Greenwich. */
export interface GridCell {
  row: number;
  col: number;
}

/**
 * The cell a location lies in. Stored with each profile (as `location.cellRow` and `location.cellCol`). The pole itself
 * is in the last row, and 180° is -180°: a cell of their own would have its centre off the globe, at 90.005° or
 * 180.005°, where the search boxes, which hold cells on it, would not look.
 */
export function gridCellOf(location: { lat: number; lng: number }): GridCell {
  const col = Math.floor(location.lng / CELL_DEG);
  return { row: Math.min(LAST_ROW, Math.floor(location.lat / CELL_DEG)), col: col > LAST_COL ? col - COLS : col };
}

/**
 * The centre of a cell, to 3 decimals: where nearby search places each member of it, at most about 0.8 km from where
 * they are. The caller picks the search point and radius, so matching on the exact location let anyone find it by
 * moving a radius boundary across it (within about 15 m, in some 45 anonymous requests); from the cell centre they find
 * only the cell.
 */
export function cellCentre(cell: GridCell): { lat: number; lng: number } {
  const centre = (index: number) => Number(((index + 0.5) * CELL_DEG).toFixed(3));
  return { lat: centre(cell.row), lng: centre(cell.col) };
}

/**
 * A cell centre's distance from a point, to the millimetre: what nearby searches sort by. Cells exactly as far (east
 * and west of the point, say) come out of the haversine some 1e-12 km apart; unrounded, that noise, not the id, decided
 * which of them came first (until 2026-12-06).
 */
export function cellDistanceKm(point: { lat: number; lng: number }, cell: GridCell): number {
  return Math.round(distanceKm(point, cellCentre(cell)) * 1e6) / 1e6;
}

/** The cells of a range of rows, in one or two ranges of columns (two where it crosses the 180th meridian). */
export interface CellBox {
  rows: [number, number];
  cols: [number, number][];
}

/**
 * Cells holding every cell centre within `reachKm` of `origin`: the bounding box of that spherical cap (its
 * longitude half-width is asin(sin θ / cos φ), wider than the parallel through the origin suggests), one cell wider
 * on each side so that rounding cannot leave a cell out. A cap over a pole spans every longitude.
 */
export function cellBox(origin: { lat: number; lng: number }, reachKm: number): CellBox {
  const angle = reachKm / EARTH_RADIUS_KM;
  const angleDeg = (angle * 180) / Math.PI;
  const row = (lat: number) => Math.min(LAST_ROW, Math.max(FIRST_ROW, Math.floor(lat / CELL_DEG)));
  const rows: [number, number] = [row(origin.lat - angleDeg) - 1, row(origin.lat + angleDeg) + 1];
  const everyCol: [number, number][] = [[FIRST_COL, LAST_COL]];
  // At least 1 when the cap reaches over a pole.
  const ratio = Math.sin(angle) / Math.cos((origin.lat * Math.PI) / 180);
  if (ratio >= 1) return { rows, cols: everyCol };
  const halfWidthDeg = (Math.asin(ratio) * 180) / Math.PI;
  const west = Math.floor((origin.lng - halfWidthDeg) / CELL_DEG) - 1;
  const east = Math.floor((origin.lng + halfWidthDeg) / CELL_DEG) + 1;
  if (east - west >= COLS - 1) return { rows, cols: everyCol };
  // Columns past ±180° continue from the other side.
  if (west < FIRST_COL)
    return {
      rows,
      cols: [
        [west + COLS, LAST_COL],
        [FIRST_COL, east],
      ],
    };
  if (east > LAST_COL)
    return {
      rows,
      cols: [
        [west, LAST_COL],
        [FIRST_COL, east - COLS],
      ],
    };
  return { rows, cols: [[west, east]] };
}

/** Cells per side of a tile: nearby pages are dropped by the 1° tiles they cover (list-page-tags.ts). */
const TILE_CELLS = 100;

/** The 1° tile a cell lies in, as a cell of a grid 100 times coarser. */
export function tileOf(cell: GridCell): GridCell {
  return { row: tileIndex(cell.row), col: tileIndex(cell.col) };
}

/** The tiles a box of cells overlaps, or undefined when that is more than `max`. */
export function tilesOf(box: CellBox, max: number): GridCell[] | undefined {
  // A box reaches one row past the poles' rows, where no cell is.
  const [south, north] = box.rows.map((row) => tileIndex(Math.min(LAST_ROW, Math.max(FIRST_ROW, row))));
  const colRanges = box.cols.map(([west, east]) => [tileIndex(west), tileIndex(east)]);
  const count = (north - south + 1) * colRanges.reduce((sum, [west, east]) => sum + east - west + 1, 0);
  if (count > max) return undefined;
  const tiles: GridCell[] = [];
  for (let row = south; row <= north; row += 1)
    for (const [west, east] of colRanges) for (let col = west; col <= east; col += 1) tiles.push({ row, col });
  return tiles;
}

const tileIndex = (cellIndex: number) => Math.floor(cellIndex / TILE_CELLS);
