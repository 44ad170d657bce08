/**
 * A `@Transform` for ids written in hexadecimal (ObjectIds): lower case, as the API writes them. Matched as strings
 * (cache keys, ids kept in lists), an upper-case spelling of an id would name nothing the API knows.
 */
export const lowerCaseIds = ({ value }: { value: unknown }): unknown => {
  const lower = (item: unknown) => (typeof item === 'string' ? item.toLowerCase() : item);
  return Array.isArray(value) ? (value as unknown[]).map(lower) : lower(value);
};
