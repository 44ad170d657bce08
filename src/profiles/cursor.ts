import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import { invalidField } from '../common/problem/validation-exception.factory.js';
import { isObjectIdHex } from '../database/object-id.js';

/** v1 (until 2026-12-06) named no list. */
const CURSOR_VERSION = 2;

/**
 * Search pages are ordered by _id descending and resume strictly below the last id seen, so profiles
 * inserted meanwhile (higher ids) never shift later pages: no duplicates, no gaps. The cursor is
 * opaque to clients (base64url JSON), so its format can change without breaking them.
 *
 * A cursor names the list it pages (`scope`: the endpoint and its filters, see pageScope). Given to another list, or
 * to the same one with other filters, it is a 400: with only an id it paged on silently from an unrelated place, and
 * a client that changed a filter but kept its cursor saw the new list's first pages skipped without a word.
 */
export function encodeCursor(lastId: Types.ObjectId, scope: string): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, id: lastId.toHexString(), s: scope })).toString('base64url');
}

/** Whether `cursor` has the form encodeCursor gives it now (whatever list it names). */
export function isCurrentCursor(cursor: string): boolean {
  try {
    return (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { v?: unknown }).v === CURSOR_VERSION;
  } catch {
    return false;
  }
}

/** The scope of a list's cursors: the list's name and the filters it was asked for (never the page size). */
export function pageScope(list: string, filters: Record<string, unknown>): string {
  return `${list}:${createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 12)}`;
}

/**
 * The first `limit` of `rows`, read with one row more to tell whether another page follows, and the cursor of the
 * next page: left out on the last one, as every optional field is (never null; decision 0031).
 */
export function cursorPage<T>(
  rows: T[],
  limit: number,
  idOf: (row: T) => Types.ObjectId,
  scope: string,
): { page: T[]; nextCursor?: string } {
  const page = rows.slice(0, limit);
  return rows.length > limit ? { page, nextCursor: encodeCursor(idOf(page[page.length - 1]), scope) } : { page };
}

export function decodeCursor(cursor: string, scope: string): Types.ObjectId {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      v?: unknown;
      id?: unknown;
      s?: unknown;
    };
    if (parsed.v === CURSOR_VERSION && parsed.s === scope && isObjectIdHex(parsed.id)) {
      return new Types.ObjectId(parsed.id);
    }
  } catch {
    // fall through to the 400 below
  }
  throw invalidField(
    'cursor',
    'cursor is not a cursor this API issued for this list and these filters: start again without a cursor',
  );
}
