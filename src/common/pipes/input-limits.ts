import { BadRequestException } from '@nestjs/common';

/** Deeper than any DTO here (a batch's sub-request headers are 3 levels); class-transformer recurses per level. */
export const MAX_INPUT_DEPTH = 16;
/** Far above any valid body (a full profile is under 100 values), far below what makes validation slow. */
export const MAX_INPUT_VALUES = 10_000;
/**
 * Four times the longest text any DTO takes (a batch item's path, 2,048), far below what makes validation slow: the
 * transforms and checks read a string several times, some in time quadratic in a run of it (NFC on combining marks),
 * and a 1 MB display name of emoji still took 40 ms of the event loop in class-validator's length check alone.
 */
export const MAX_INPUT_TEXT_LENGTH = 8192;
/**
 * Far above any valid list (a batch holds 20 requests, a profile 20 interests), far below what makes validation slow:
 * class-transformer and class-validator go through every item before ArrayMaxSize refuses the list, and a 1 MB batch
 * of 3,300 requests (within MAX_INPUT_VALUES) held the event loop for 100–300 ms.
 */
export const MAX_INPUT_LIST_ITEMS = 100;
/** An unpaired UTF-16 surrogate: matched only alone, since the `u` flag reads a valid pair as one code point. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Refuses input no DTO can mean before class-transformer and class-validator see it: nesting that overflows their
 * recursion (a 4 KB body of 2,000 brackets was a 500), bodies of countless values, unless `lists` is false lists of
 * more than MAX_INPUT_LIST_ITEMS, and, unless `text` is false, strings that are not text (a lone surrogate makes
 * validator's isEmail throw; NUL truncates strings in C libraries and logs) or longer than MAX_INPUT_TEXT_LENGTH.
 * Keys count too.
 */
export function assertPlainInput(input: unknown, { text = true, lists = true } = {}): void {
  const pending: { value: unknown; depth: number }[] = [{ value: input, depth: 0 }];
  let values = 0;
  while (pending.length > 0) {
    const { value, depth } = pending.pop()!;
    if (++values > MAX_INPUT_VALUES) throw new BadRequestException(`At most ${MAX_INPUT_VALUES} values per request`);
    if (typeof value === 'string') {
      if (text) assertText(value);
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_INPUT_DEPTH) throw new BadRequestException(`Input nests at most ${MAX_INPUT_DEPTH} levels deep`);
    if (lists && Array.isArray(value) && value.length > MAX_INPUT_LIST_ITEMS) {
      throw new BadRequestException(`Lists hold at most ${MAX_INPUT_LIST_ITEMS} items`);
    }
    for (const [key, child] of Object.entries(value)) {
      if (text) assertText(key);
      pending.push({ value: child, depth: depth + 1 });
    }
  }
}

function assertText(text: string): void {
  if (text.length > MAX_INPUT_TEXT_LENGTH) {
    throw new BadRequestException(`Text holds at most ${MAX_INPUT_TEXT_LENGTH} UTF-16 code units`);
  }
  if (LONE_SURROGATE.test(text)) throw new BadRequestException('Text must be valid Unicode (no unpaired surrogates)');
  if (text.includes('\0')) throw new BadRequestException('Text must not contain NUL characters');
}
