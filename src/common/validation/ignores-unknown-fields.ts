const tolerantBodies = new WeakSet<object>();

/**
 * Marks a body DTO whose unknown fields (at any depth) are dropped instead of refused with 400; its known fields are
 * validated as usual. Only for bodies written by others on their own schedule: a payment provider adds fields to its
 * events over time, and a refused event is refused again on every retry, until the payment it reports is lost.
 * Everything a client of ours sends keeps the global rule (unknown fields are 400). Text (no NUL, no lone surrogate) is
 * checked in what validation keeps, after it: give the known fields validators that take any string (patterns, ids),
 * not isEmail, which throws on a lone surrogate.
 */
export function IgnoresUnknownFields(): ClassDecorator {
  return (target) => {
    tolerantBodies.add(target);
  };
}

export function ignoresUnknownFields(type: unknown): boolean {
  return typeof type === 'function' && tolerantBodies.has(type);
}
