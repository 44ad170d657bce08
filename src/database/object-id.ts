/** An ObjectId as this API writes it (`toHexString()`): 24 lower-case hexadecimal characters. */
export function isObjectIdHex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{24}$/.test(value);
}
