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
  if (isJpeg(head) && !jpegSizeWithinReach(head)) return undefined;
  try {
    // A copy that owns its memory: image-size reads through a DataView over `head.buffer` that it does not bound by
    // `head`'s length, so on a truncated header it read the bytes after it, which in a slice of Node's shared
    // buffer pool belong to other requests, and stored them as the dimensions.
    const { type, width, height, orientation } = imageSize(new Uint8Array(head));
    if (type === 'gif') return gifCanvas(head);
    if (!width || !height) return undefined;
    return orientation !== undefined && orientation >= 5 ? { width: height, height: width } : { width, height };
  } catch {
    return undefined;
  }
}

/**
 * Most steps image-size's JPEG reader may take to its frame header: one per segment, or per byte of what is not one.
 * Real files have tens of segments before it. Each step allocates (a DataView, a hex string), and the upload asks again
 * from the first byte each time it has read 64 KiB more: the JPEG signature and 1 MiB of zeros took about 900 ms of the
 * event loop before the 422.
 */
export const MAX_JPEG_STEPS = 10_000;

/** What image-size reads as a JPEG (its detector: `ffd8`, and not the JPEG 2000 codestream's `ff4fff51`). */
const isJpeg = (head: Buffer) => head.length >= 2 && head[0] === 0xff && head[1] === 0xd8;

/**
 * Whether image-size's JPEG reader reaches a frame header (SOF0–SOF2) within MAX_JPEG_STEPS: its loop, step for step,
 * without its allocations. From the length field after the first marker, each step reads a segment's length and goes
 * past the segment when a marker follows it, or one byte on when none does.
 */
function jpegSizeWithinReach(head: Buffer): boolean {
  let at = 4;
  for (let step = 0; step < MAX_JPEG_STEPS && at + 2 <= head.length; step++) {
    const length = head.readUInt16BE(at);
    if (at + length > head.length) return false;
    if (head[at + length] !== 0xff) {
      at += 1;
      continue;
    }
    const marker = head[at + length + 1];
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) return true;
    at += length + 2;
  }
  return false;
}

/**
 * A GIF's canvas as decoders size it: the logical screen, grown to hold the first frame. image-size reads the screen
 * alone, so a 40-byte GIF with a 1 × 1 screen and an 8000 × 8000 frame passed as 1 × 1, and libvips (the variants
 * job) and browsers decoded 64 megapixels. Undefined while the first frame's descriptor is not in `head`.
 */
function gifCanvas(head: Buffer): ImageSize | undefined {
  if (head.length < 13) return undefined;
  const screen = { width: head.readUInt16LE(6), height: head.readUInt16LE(8) };
  const flags = head[10];
  // The global colour table, when there is one, comes before the first block.
  let at = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0);
  while (at < head.length) {
    const block = head[at];
    if (block === GIF_TRAILER) return screen.width && screen.height ? screen : undefined;
    if (block === GIF_IMAGE) return at + 9 > head.length ? undefined : withFrame(screen, head, at);
    if (block !== GIF_EXTENSION) return undefined;
    at = afterSubBlocks(head, at + 2);
  }
  return undefined;
}

const GIF_EXTENSION = 0x21;
const GIF_IMAGE = 0x2c;
const GIF_TRAILER = 0x3b;

/** The screen grown to the frame whose image descriptor starts at `at` (left, top, width, height). */
function withFrame(screen: ImageSize, head: Buffer, at: number): ImageSize | undefined {
  const right = head.readUInt16LE(at + 1) + head.readUInt16LE(at + 5);
  const bottom = head.readUInt16LE(at + 3) + head.readUInt16LE(at + 7);
  const size = { width: Math.max(screen.width, right), height: Math.max(screen.height, bottom) };
  return size.width && size.height ? size : undefined;
}

/** Where the data sub-blocks starting at `at` end (past their zero-length terminator), or past `head`'s end. */
function afterSubBlocks(head: Buffer, at: number): number {
  let next = at;
  while (next < head.length && head[next] !== 0) next += head[next] + 1;
  return next + 1;
}
