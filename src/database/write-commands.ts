/**
 * The most statements one write command carries (a bulkWrite's `update`). FerretDB 1.x keeps the query of every update
 * statement that matched open until the whole command ends, each on one of the 100 SQLite connections it has per
 * database: a command of 100 updates by id waits for a connection it holds itself, for ever, and every later command on
 * that database waits behind it until FerretDB restarts (the driver gives up on each after MONGODB_SOCKET_TIMEOUT_MS).
 * Well below 100: commands running side by side, and open cursors, take from the same connections.
 */
export const STATEMENTS_PER_WRITE = 25;

/** `operations` in runs of at most STATEMENTS_PER_WRITE, one write command each. */
export function* inWriteCommands<T>(operations: readonly T[]): Generator<T[]> {
  for (let start = 0; start < operations.length; start += STATEMENTS_PER_WRITE) {
    yield operations.slice(start, start + STATEMENTS_PER_WRITE);
  }
}
