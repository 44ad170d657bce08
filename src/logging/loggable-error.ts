import { stdSerializers } from 'pino';

/**
 * What an error's line keeps besides its class, message and stack: codes that say what failed, never what was in it.
 * Everything else an error carries is left out: MongoDB's E11000 carries the duplicated values (`keyValue`, and again in
 * `errorResponse`), a bulk write its documents (`writeErrors`), mongoose's validation and cast errors the values they
 * refused; all of it a member's email, birth date or position, in a log pipeline many engineers read.
 */
const KEPT_FIELDS = ['code', 'codeName', 'errno', 'syscall', 'statusCode'] as const;

/** MongoDB's `dup key: { email: "ann@example.com" }`, in a message or the first line of a stack, up to its line's end. */
const DUPLICATE_KEY_VALUES = /dup key: \{[^\n]*\}/g;

/** `text` (an error's message or stack) without the document values MongoDB's duplicate key message names. */
export function loggableMessage(text: string): string {
  return text.replace(DUPLICATE_KEY_VALUES, 'dup key: { [redacted] }');
}

/**
 * pino's `err` serializer: the standard one (causes' messages and stacks included), less document contents. pino-http,
 * which Nest's Logger writes through (nest-logger.ts), hands it the error serialized by the standard one already.
 */
export function loggableError(error: unknown): unknown {
  const serialized = error instanceof Error ? stdSerializers.err(error) : error;
  if (typeof serialized !== 'object' || serialized === null || !('message' in serialized)) return serialized;
  const fields = serialized as Record<string, unknown>;
  const kept: Record<string, unknown> = { type: fields.type, message: loggableMessage(String(fields.message)) };
  if (typeof fields.stack === 'string') kept.stack = loggableMessage(fields.stack);
  for (const field of KEPT_FIELDS) {
    const value = fields[field];
    if (typeof value === 'string' || typeof value === 'number') kept[field] = value;
  }
  // An AggregateError's own message may be empty (Node's connect to each address of a name): the failures are these.
  if (Array.isArray(fields.aggregateErrors)) kept.aggregateErrors = fields.aggregateErrors.map(loggableError);
  return kept;
}
