import { mongo } from 'mongoose';

/** Duplicate key: code 11000 on MongoDB and FerretDB alike (FerretDB's message is thinner, so test only the code). */
export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/**
 * Socket failures. The driver (7.8) lets a write to a connection the server has just closed throw Node's own error
 * (EPIPE, "This socket has been ended by the other party") instead of a MongoNetworkError: seen as a 500 on a webhook
 * when FerretDB stopped mid-request.
 */
const SOCKET_ERROR_CODES = new Set(['EPIPE', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT']);

/**
 * Server answers that mean "not now" on a replica set: the member is no longer primary, is stepping down or shutting
 * down, or the operation was interrupted by an election (NotWritablePrimary, NotPrimaryNoSecondaryOk,
 * NotPrimaryOrSecondary, PrimarySteppedDown, ShutdownInProgress, InterruptedAtShutdown,
 * InterruptedDueToReplStateChange). The driver retries a read or write once; a failover that outlasts that retry is
 * an outage, not a bug. FerretDB is no replica set and never sends them.
 */
const NOT_AVAILABLE_NOW_CODES = new Set([10107, 13435, 13436, 189, 91, 11600, 11602]);

/**
 * MongoDB unavailable (a failover, an overloaded server, a network break): an outage of a dependency, not a bug. Either
 * no answer came (isConnectionFailure) or the server answered "not now".
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return (
    isConnectionFailure(error) ||
    isPoolSaturated(error) ||
    (error instanceof mongo.MongoServerError && NOT_AVAILABLE_NOW_CODES.has(Number(error.code)))
  );
}

/**
 * No pooled connection came free within MONGODB_WAIT_QUEUE_TIMEOUT_MS: every one is busy, so this process sends
 * MongoDB more than it answers. The driver (7.8) does not export the class; its name is part of its API.
 */
export function isPoolSaturated(error: unknown): boolean {
  return error instanceof mongo.MongoDriverError && error.name === 'MongoWaitQueueTimeoutError';
}

/**
 * This process closed its MongoDB client (it is shutting down). An operation in flight then fails with
 * MongoClientClosedError, one started during the close with MongoTopologyClosedError and one after it with
 * MongoNotConnectedError (seen with driver 7.8 on FerretDB, test/integration/mongo-client-closed.int-spec.ts). They
 * come from handlers that outlived their deadline, whose requests were answered already. The service uses no explicit
 * session, so a session expires only when the close ends it.
 */
export function isClientClosed(error: unknown): boolean {
  return (
    error instanceof mongo.MongoClientClosedError ||
    error instanceof mongo.MongoTopologyClosedError ||
    error instanceof mongo.MongoNotConnectedError ||
    error instanceof mongo.MongoExpiredSessionError
  );
}

/** Lost or refused connections: no server answered the command. */
export function isConnectionFailure(error: unknown): boolean {
  return (
    error instanceof mongo.MongoNetworkError || error instanceof mongo.MongoServerSelectionError || isSocketError(error)
  );
}

/** Node's socket errors carry a string `code`; the only sockets request handlers use unwrapped are MongoDB's. */
function isSocketError(error: unknown): boolean {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && SOCKET_ERROR_CODES.has(code);
}
