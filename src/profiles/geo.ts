import ngeohash from 'ngeohash';

/** Precisions stored per profile (geohash prefixes); nearby search matches one of them exactly. */
export const GEOCELL_PRECISIONS = [2, 3, 4, 5] as const;
export const MAX_NEARBY_RADIUS_KM = 100;

const KM_PER_DEGREE = 111.32;

/**
 * The smaller side, in km, of a geohash cell of `precision` anywhere between the equator-most and
 * pole-most latitude of the search: cells keep their height but narrow east-west with cos(latitude).
 */
function cellMinSideKm(precision: number, lat: number, radiusKm: number): number {
  const bits = precision * 5;
  const heightKm = (180 / 2 ** Math.floor(bits / 2)) * KM_PER_DEGREE;
  const widthDegrees = 360 / 2 ** Math.ceil(bits / 2);
  const poleMostLat = Math.min(90, Math.abs(lat) + radiusKm / KM_PER_DEGREE);
  return Math.min(heightKm, widthDegrees * KM_PER_DEGREE * Math.cos((poleMostLat * Math.PI) / 180));
}

/** Geohash prefixes of a point at every stored precision, e.g. ['u09', 'u09t', 'u09tv']. */
export function geocellsOf(lat: number, lng: number): string[] {
  const hash = ngeohash.encode(lat, lng, Math.max(...GEOCELL_PRECISIONS));
  return GEOCELL_PRECISIONS.map((precision) => hash.slice(0, precision));
}

/**
 * The cell containing the point plus its 8 neighbours, at the finest precision whose cells are at
 * least `radiusKm` wide: every point within the radius lies in one of these 9 cells.
 */
export function searchCells(lat: number, lng: number, radiusKm: number): string[] {
  // Near the poles even the coarsest cell can be too narrow; the coarsest is then the best available.
  const precision = [...GEOCELL_PRECISIONS].reverse().find((p) => cellMinSideKm(p, lat, radiusKm) >= radiusKm) ?? 2;
  const center = ngeohash.encode(lat, lng, precision);
  return [center, ...ngeohash.neighbors(center)];
}

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
const BLUR_GRID_DEG = 0.01;
/** How far a member's cell centre can be from where they are: half a cell's diagonal, at most about 0.8 km. */
export const BLUR_MAX_KM = 0.8;

/**
 * Where nearby search places a member: the centre of the 0.01° cell around their location. The caller picks the
 * search point and radius, so matching on the exact location let anyone find it by moving a radius boundary across
 * it (within about 15 m, in some 45 anonymous requests); from the cell centre they find only the cell.
 */
export function blurredLocation(location: { lat: number; lng: number }): { lat: number; lng: number } {
  const centre = (degrees: number) => Number(((Math.floor(degrees / BLUR_GRID_DEG) + 0.5) * BLUR_GRID_DEG).toFixed(3));
  return { lat: centre(location.lat), lng: centre(location.lng) };
}
