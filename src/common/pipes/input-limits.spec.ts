import { BadRequestException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import {
  assertPlainInput,
  MAX_INPUT_DEPTH,
  MAX_INPUT_LIST_ITEMS,
  MAX_INPUT_TEXT_LENGTH,
  MAX_INPUT_VALUES,
} from './input-limits.js';

/** `levels` arrays inside each other around `inner`. */
const nested = (levels: number, inner: unknown = 1): unknown => {
  let value = inner;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
};
const refusal = (input: unknown) => {
  try {
    assertPlainInput(input);
  } catch (error) {
    expect(error).toBeInstanceOf(BadRequestException);
    return (error as Error).message;
  }
  return undefined;
};

describe('assertPlainInput', () => {
  it('passes ordinary bodies, paired surrogates (emoji) and other Unicode included', () => {
    const body = { displayName: 'Zoë 👩‍🚀', interests: ['hiking', '登山'], location: { city: 'Zürich', lat: 47.4 } };
    expect(refusal(body)).toBeUndefined();
    expect(refusal(nested(MAX_INPUT_DEPTH))).toBeUndefined();
  });

  it('refuses nesting past the limit, in arrays and objects, without recursing itself', () => {
    expect(refusal(nested(MAX_INPUT_DEPTH + 1))).toMatch(/nests at most/);
    let deepObject: unknown = {};
    for (let i = 0; i < 100_000; i++) deepObject = { x: deepObject };
    expect(refusal({ email: 'a@b.co', extra: deepObject })).toMatch(/nests at most/);
  });

  it('refuses more values than the limit, keys of a flat object included', () => {
    const wide = Object.fromEntries(Array.from({ length: MAX_INPUT_VALUES }, (_, i) => [`k${i}`, i]));
    expect(refusal(wide)).toMatch(/At most/);
    const widest = Object.fromEntries(Array.from({ length: MAX_INPUT_VALUES - 2 }, (_, i) => [`k${i}`, i]));
    expect(refusal(widest)).toBeUndefined();
  });

  it('refuses a list longer than the limit at any depth, unless told to leave lists', () => {
    const list = (length: number) => Array.from({ length }, (_, i) => ({ method: 'GET', path: `/v1/plans?${i}` }));
    expect(refusal({ requests: list(MAX_INPUT_LIST_ITEMS) })).toBeUndefined();
    expect(refusal({ requests: list(MAX_INPUT_LIST_ITEMS + 1) })).toMatch(/Lists hold at most/);
    expect(refusal({ a: { b: [list(MAX_INPUT_LIST_ITEMS + 1)] } })).toMatch(/Lists hold at most/);
    expect(() => assertPlainInput({ items: list(1_000) }, { lists: false })).not.toThrow();
  });

  it('refuses unpaired surrogates and NUL in values and in keys', () => {
    expect(refusal({ email: 'a\ud800@example.com' })).toMatch(/valid Unicode/);
    expect(refusal({ bio: 'ends badly \udc00' })).toMatch(/valid Unicode/);
    expect(refusal({ ['k\ud83d']: 1 })).toMatch(/valid Unicode/);
    expect(refusal({ displayName: 'A\u0000nn' })).toMatch(/NUL/);
    expect(refusal(['fine', { deeper: ['x\u0000'] }])).toMatch(/NUL/);
  });

  it('refuses text longer than the limit, in values and in keys, unless told to leave text', () => {
    const longest = 'é'.repeat(MAX_INPUT_TEXT_LENGTH);
    expect(refusal({ bio: longest })).toBeUndefined();
    expect(refusal({ bio: `${longest}x` })).toMatch(/at most 8192/);
    expect(refusal({ [`${longest}x`]: 1 })).toMatch(/at most 8192/);
    expect(refusal([{ deeper: ['👩'.repeat(MAX_INPUT_TEXT_LENGTH)] }])).toMatch(/at most 8192/);
    expect(() => assertPlainInput({ note: `${longest}x` }, { text: false })).not.toThrow();
  });
});
