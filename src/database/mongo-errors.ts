/** Duplicate key: code 11000 on MongoDB and FerretDB alike (FerretDB's message is thinner, so test only the code). */
export function isDuplicateKeyError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}
