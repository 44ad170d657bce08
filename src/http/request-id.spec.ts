import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { assignRequestId } from './request-id.js';

const withHeader = (value?: string | string[]) =>
  ({ headers: { 'x-request-id': value } }) as unknown as IncomingMessage;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('assignRequestId', () => {
  it("keeps the caller's id when it is short and plain", () => {
    expect(assignRequestId(withHeader('edge-7f3a:42.1'))).toBe('edge-7f3a:42.1');
  });

  it("keeps a batch item's id, its batch's longest id plus .<index>", () => {
    const item = `${'x'.repeat(128)}.19`;
    expect(assignRequestId(withHeader(item))).toBe(item);
  });

  it('mints a UUID when the header is missing, repeated, too long or unsafe to log', () => {
    for (const value of [undefined, ['a', 'b'], 'x'.repeat(129), `${'x'.repeat(128)}.x`, 'a b', 'a\nb', '{"json":1}']) {
      expect(assignRequestId(withHeader(value))).toMatch(UUID);
    }
  });
});
