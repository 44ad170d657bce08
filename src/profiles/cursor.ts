import { BadRequestException } from '@nestjs/common';
import { Types } from 'mongoose';
import { isObjectIdHex } from '../database/object-id.js';

/**
 * Search pages are ordered by _id descending and resume strictly below the last id seen, so profiles
 * inserted meanwhile (higher ids) never shift later pages: no duplicates, no gaps. The cursor is
 * opaque to clients (base64url JSON), so its format can change without breaking them.
 */
export function encodeCursor(lastId: Types.ObjectId): string {
  return Buffer.from(JSON.stringify({ v: 1, id: lastId.toHexString() })).toString('base64url');
}

/**
 * The first `limit` of `rows`, read with one row more to tell whether another page follows, and the cursor of the
 * next page: left out on the last one, as every optional field is (never null; decision 0031).
 */
export function cursorPage<T>(
  rows: T[],
  limit: number,
  idOf: (row: T) => Types.ObjectId,
): { page: T[]; nextCursor?: string } {
  const page = rows.slice(0, limit);
  return rows.length > limit ? { page, nextCursor: encodeCursor(idOf(page[page.length - 1])) } : { page };
}

export function decodeCursor(cursor: string): Types.ObjectId {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { v?: unknown; id?: unknown };
    if (parsed.v === 1 && isObjectIdHex(parsed.id)) {
      return new Types.ObjectId(parsed.id);
    }
  } catch {
    // fall through to the 400 below
  }
  throw new BadRequestException('cursor is not a cursor this API issued');
}
