import type { MongoClient } from 'mongodb';

/** One server's connection pool, as the driver counts it. */
export interface PoolState {
  server: string;
  open: number;
  inUse: number;
}

interface PoolInternals {
  totalConnectionCount?: unknown;
  currentCheckedOutCount?: unknown;
}

/**
 * The connection pool of each server the client knows, read from the driver's internals (`topology.s.servers`, a Map
 * of address to server, each with its `pool`), which it has no public API for: the MongoDB driver 7 layout. `open`
 * counts connections available, being established and checked out (the pool's total, which maxPoolSize bounds);
 * `inUse` those checked out. Empty while the client is not connected, and empty, never a guess, should a driver
 * upgrade move these fields: what is missing is left out.
 */
export function driverPools(client: MongoClient): PoolState[] {
  const servers = (client as unknown as { topology?: { s?: { servers?: unknown } } }).topology?.s?.servers;
  if (!(servers instanceof Map)) return [];
  const pools: PoolState[] = [];
  for (const [server, { pool }] of servers as Map<unknown, { pool?: PoolInternals }>) {
    const open = pool?.totalConnectionCount;
    const inUse = pool?.currentCheckedOutCount;
    if (typeof server !== 'string' || typeof open !== 'number' || typeof inUse !== 'number') continue;
    pools.push({ server, open, inUse });
  }
  return pools;
}
