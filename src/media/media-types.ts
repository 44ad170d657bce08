import { fileTypeFromBuffer } from 'file-type';
import { imageSize } from 'image-size';
import { exifOrientation } from './metadata-stripping.js';

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
  if (isJpeg(head)) return jpegFrameSize(head);
  try {
    // A copy that owns its memory: image-size reads through a DataView over `head.buffer` that it does not bound by
    // `head`'s length, so on a truncated header it read the bytes after it, which in a slice of Node's shared
    // buffer pool belong to other requests, and stored them as the dimensions.
    const { type, width, height } = imageSize(new Uint8Array(head));
    if (type === 'gif') return gifCanvas(head);
    if (!width || !height) return undefined;
    return { width, height };
  } catch {
    return undefined;
  }
}

/**
 * Most segments (or markers without one) read before a JPEG's frame header. Real files have tens; each 64 KiB more of
 * an upload reads its header again from the first byte, so a file of nothing but empty segments must not be walked to
 * its end every time.
 */
export const MAX_JPEG_STEPS = 10_000;

/** What image-size reads as a JPEG (its detector: `ffd8`, and not the JPEG 2000 codestream's `ff4fff51`). */
const isJpeg = (head: Buffer) => head.length >= 2 && head[0] === 0xff && head[1] === 0xd8;

const APP1 = 0xe1;
const EXIF = Buffer.from('Exif\0', 'latin1');
/** SOF0 to SOF15, less DHT (c4), JPG (c8) and DAC (cc), which share the range. */
const isStartOfFrame = (marker: number) => marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);

/**
 * The size in a JPEG's first frame header, found as decoders find it (libjpeg's read_markers): segment by segment from
 * the start, skipping fill bytes and stray bytes before a marker. Undefined when that frame is of a kind not taken.
 * image-size looks for SOF0 to SOF2 only and, past a fill byte or a stray byte, walks on out of step with the segments:
 * a 10000 × 6000 photo whose frame header followed a fill byte was sized by a 1 × 1 one hidden inside a later segment,
 * and accepted.
 */
function jpegFrameSize(head: Buffer): ImageSize | undefined {
  let orientation: number | undefined;
  let at = 2;
  for (let step = 0; step < MAX_JPEG_STEPS; step++) {
    at = head.indexOf(0xff, at);
    while (at >= 0 && head[at + 1] === 0xff) at += 1;
    if (at < 0 || at + 2 > head.length) return undefined;
    const marker = head[at + 1];
    // Not a marker (a stuffed zero), or one without a length (TEM, RST0 to RST7).
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    // Another image, the end, or the image data, all before any frame header: nothing to size.
    if (marker === 0xd8 || marker === 0xd9 || marker === 0xda || at + 4 > head.length) return undefined;
    const length = head.readUInt16BE(at + 2);
    if (length < 2 || at + 2 + length > head.length) return undefined;
    const payload = head.subarray(at + 4, at + 2 + length);
    if (isStartOfFrame(marker)) {
      // Lossless and arithmetic-coded frames (SOF3, SOF5 and up) are not shown by every browser: not taken, as before.
      if (marker > 0xc2 || payload.length < 5) return undefined;
      const height = payload.readUInt16BE(1);
      const width = payload.readUInt16BE(3);
      // A height of 0 is given later (a DNL segment after the first scan): no size to check from here.
      if (!width || !height) return undefined;
      // Orientations 5 to 8 turn the image a quarter.
      return orientation !== undefined && orientation >= 5 ? { width: height, height: width } : { width, height };
    }
    if (marker === APP1 && orientation === undefined && payload.subarray(0, EXIF.length).equals(EXIF)) {
      orientation = exifOrientation(payload.subarray(EXIF.length + 1));
    }
    at += 2 + length;
  }
  return undefined;
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
