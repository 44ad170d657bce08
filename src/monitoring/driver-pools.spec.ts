import { MongoClient } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { driverPools } from './driver-pools.js';

/** A client as the driver lays one out once connected: topology.s.servers, address → server with its pool. */
function clientWith(servers: Map<unknown, unknown>): MongoClient {
  return { topology: { s: { servers } } } as unknown as MongoClient;
}

describe('driverPools', () => {
  it('reads each server’s pool as it is now: its total and the connections checked out', () => {
    const client = clientWith(
      new Map([
        ['db-0:27017', { pool: { totalConnectionCount: 7, currentCheckedOutCount: 2 } }],
        ['db-1:27017', { pool: { totalConnectionCount: 1, currentCheckedOutCount: 0 } }],
      ]),
    );
    expect(driverPools(client)).toEqual([
      { server: 'db-0:27017', open: 7, inUse: 2 },
      { server: 'db-1:27017', open: 1, inUse: 0 },
    ]);
  });

  it('leaves out what the driver does not have, rather than guess', () => {
    expect(driverPools(new MongoClient('mongodb://127.0.0.1:1/never-connected'))).toEqual([]);
    expect(driverPools(clientWith(undefined as unknown as Map<unknown, unknown>))).toEqual([]);
    const moved = clientWith(
      new Map<unknown, unknown>([
        ['db-0:27017', { pool: { size: 7 } }],
        ['db-1:27017', {}],
        ['db-2:27017', { pool: { totalConnectionCount: 3, currentCheckedOutCount: 1 } }],
      ]),
    );
    expect(driverPools(moved)).toEqual([{ server: 'db-2:27017', open: 3, inUse: 1 }]);
  });
});
