/** Whether a value read from outside (a query, Redis, a stored document) is a list of strings and nothing else. */
export function isTextList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
