import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * Accept a caller's id only if it is short and harmless to log and echo back. A batch item's id is its batch's plus
 * `.<index>`: without room for that suffix, the items of a batch sent with a 127- or 128-character id got UUIDs that
 * nothing ties to the batch.
 */
const ACCEPTABLE_REQUEST_ID = /^[\w.:-]{1,128}(?:\.\d{1,2})?$/;

/**
 * Propagates the caller's x-request-id, or mints a UUID. Fastify calls this for every request and
 * binds the id to the request's logger.
 */
export function assignRequestId(request: IncomingMessage): string {
  const header = request.headers[REQUEST_ID_HEADER];
  return typeof header === 'string' && ACCEPTABLE_REQUEST_ID.test(header) ? header : randomUUID();
}
