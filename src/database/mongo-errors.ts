import { mongo } from 'mongoose';

/** Duplicate key: code 11000 on MongoDB and FerretDB alike (FerretDB's message is thinner, so test only the code). */
export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

/**
 * Lost or refused connections to MongoDB (a failover, an overloaded server, a network break): an outage of a
 * dependency, not a bug.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return error instanceof mongo.MongoNetworkError || error instanceof mongo.MongoServerSelectionError;
}
