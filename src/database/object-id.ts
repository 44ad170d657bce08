import { Types } from 'mongoose';
import { randomBytes } from 'node:crypto';

/** An ObjectId as this API writes it (`toHexString()`): 24 lower-case hexadecimal characters. */
export function isObjectIdHex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{24}$/.test(value);
}

/**
 * An ObjectId whose last 8 bytes are random, for ids that are the only key to what they name (media downloads need no
 * token). The driver's are the time, a value fixed per process and a counter, so the ids of other members' uploads made
 * around one's own followed from its id by counting. The time still leads, so ids keep their creation order to the
 * second.
 */
export function unguessableObjectId(now = new Date()): Types.ObjectId {
  const bytes = randomBytes(12);
  bytes.writeUInt32BE(Math.floor(now.getTime() / 1000), 0);
  return new Types.ObjectId(bytes);
}
