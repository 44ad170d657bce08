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
 * Lost or refused connections to MongoDB (a failover, an overloaded server, a network break): an outage of a
 * dependency, not a bug.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return (
    error instanceof mongo.MongoNetworkError || error instanceof mongo.MongoServerSelectionError || isSocketError(error)
  );
}

/** Node's socket errors carry a string `code`; the only sockets request handlers use unwrapped are MongoDB's. */
function isSocketError(error: unknown): boolean {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && SOCKET_ERROR_CODES.has(code);
}
