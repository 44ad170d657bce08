import { fileTypeFromBuffer } from 'file-type';

/** What uploads may be. Decided from the file's first bytes only, never from a name or a header. */
const ALLOWED = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif']);
/** file-type reads at most this many bytes to decide. */
export const SNIFF_BYTES = 4_100;

export async function sniffMediaType(head: Buffer): Promise<string | undefined> {
  const type = await fileTypeFromBuffer(head);
  return type && ALLOWED.has(type.mime) ? type.mime : undefined;
}
