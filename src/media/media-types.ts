import { fileTypeFromBuffer } from 'file-type';
import { imageSize } from 'image-size';

/** What uploads may be. Decided from the file's first bytes only, never from a name or a header. */
const ALLOWED = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/gif']);

/** file-type reads at most this many bytes to decide. */
export const SNIFF_BYTES = 4_100;

export interface ImageSize {
  width: number;
  height: number;
}

/** The allowed type the bytes start with, or undefined for anything else, truncated headers included. */
export async function sniffMediaType(head: Buffer): Promise<string | undefined> {
  // file-type throws (EndOfStreamError) instead of answering when a header it recognises ends early, e.g. a PNG
  // signature without a whole chunk header after it: such bytes are no image we take, a 415, not a 500.
  const type = await fileTypeFromBuffer(head).catch(() => undefined);
  // An animated PNG is a PNG (readers that do not know its animation chunks show its first frame), stored as one.
  const mime = type?.mime === 'image/apng' ? 'image/png' : type?.mime;
  return mime && ALLOWED.has(mime) ? mime : undefined;
}

/**
 * Most pixels an image may have: the variants job decodes no larger one (sharp's limitInputPixels), and uploads declaring
 * more are refused. 50 MP is above any phone camera; a PNG of 20000 × 20000 zero pixels is 380 KB, and decoded 1.6 GB.
 */
export const MAX_IMAGE_PIXELS = 50_000_000;

/**
 * The displayed size (EXIF orientations 5 to 8 turn the image a quarter) if the header in `head` says
 * it; undefined when it lies further in (a JPEG with large metadata first) or the header is not whole.
 */
export function sizeFromHeader(head: Buffer): ImageSize | undefined {
  try {
    // A copy that owns its memory: image-size reads through a DataView over `head.buffer` that it does not bound by
    // `head`'s length, so on a truncated header it read the bytes after it, which in a slice of Node's shared
    // buffer pool belong to other requests, and stored them as the dimensions.
    const { width, height, orientation } = imageSize(new Uint8Array(head));
    if (!width || !height) return undefined;
    return orientation !== undefined && orientation >= 5 ? { width: height, height: width } : { width, height };
  } catch {
    return undefined;
  }
}
