import { setImmediate } from 'node:timers/promises';
import { crc32 } from 'node:zlib';

/**
 * Removes what a camera or editor wrote about a photo (EXIF with its GPS position, XMP, IPTC, comments, text chunks)
 * from an upload as it streams into storage, without decoding the image: the pixels' bytes are not touched. JPEG, PNG,
 * WebP and GIF (decision 0023). Stray bytes between a JPEG's segments are passed over, as decoders pass over them, and
 * what follows the end of a JPEG, a PNG, a WebP's RIFF payload or a GIF is left out. Anything else the parser does not
 * understand, such as a length running past the end of the data, ends the parsing there and the rest passes unchanged:
 * the upload already refused what is not an image by its first bytes, and a broken image is stored as it came. The
 * exceptions are metadata that streams past rather than being held (a PNG metadata chunk over 64 KiB, a WebP chunk
 * being blanked, a GIF comment or application extension): a file cut off inside one loses, or has zeroed, what followed
 * the chunk's header.
 */
export async function* stripMetadata(contentType: string, bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const queue = new ByteQueue(bytes);
  try {
    if (contentType === 'image/jpeg') yield* jpegWithoutMetadata(queue);
    else if (contentType === 'image/png') yield* pngWithoutMetadata(queue);
    else if (contentType === 'image/webp') yield* webpWithoutMetadata(queue);
    else if (contentType === 'image/gif') yield* gifWithoutMetadata(queue);
    yield* queue.rest();
  } finally {
    // Ended early by the consumer (storage failed): the source ends too.
    await queue.close();
  }
}

/** The most a JPEG segment holds after its marker (the length counts itself); a PNG metadata chunk up to this is held too. */
const MAX_SEGMENT = 0xffff;
const SOS = 0xda;
const EOI = 0xd9;
const APP0 = 0xe0;
const APP1 = 0xe1;
const APP15 = 0xef;
const COM = 0xfe;
const EXIF = Buffer.from('Exif\0', 'latin1');
const JFIF = Buffer.from('JFIF\0', 'latin1');
/** A JFIF segment's payload up to its thumbnail: signature, version, units, densities, thumbnail width and height. */
const JFIF_HEADER = 14;
/**
 * The application segments a decoder reads, by marker and the signature their payload starts with: JFIF (that the
 * file is YCbCr), the ICC profile (its colours) and Adobe's (its colour transform). Every other APPn goes, whatever
 * it holds: XMP under either signature, MPF's index of images that are left out after the end, FlashPix, Ducky's
 * copyright and comment, IPTC, C2PA manifests (APP11 JUMBF, whose `stds.exif` assertion can hold the GPS), a maker's
 * own. Until 2026-12-07 only those known to be metadata went, and APP3 to APP10, APP12, APP15 and the older
 * `XMP\0://` signature stayed.
 */
const KEPT_APPLICATIONS = new Map([
  [APP0, JFIF],
  [0xe2, Buffer.from('ICC_PROFILE\0', 'latin1')],
  [0xee, Buffer.from('Adobe', 'latin1')],
]);
const ORIENTATION_TAG = 0x0112;
const SHORT = 3;

/**
 * The segments before the image data (SOS), held one at a time: the tables and frame headers the decoder needs and
 * KEPT_APPLICATIONS stay; comments (COM) and every other APPn are left out. A JFIF segment loses its thumbnail, a
 * preview that may show what the photo was cropped from. An Exif orientation other than 1 is kept in a new Exif segment
 * of its own (one, however many the file has), or phone photos would show sideways.
 */
async function* jpegWithoutMetadata(queue: ByteQueue): AsyncGenerator<Buffer> {
  if (!(await queue.has(2)) || queue.peek(2).readUInt16BE(0) !== 0xffd8) return;
  yield queue.take(2);
  let oriented = false;
  for (;;) {
    if (!(await queue.has(2))) return;
    const [prefix, marker] = queue.peek(2);
    if (prefix !== 0xff) {
      // Stray bytes before a marker: decoders (libjpeg's next_marker) skip them with a warning and read the segments
      // after them, Exif included, so the walk goes on past them too. They stay.
      yield* queue.passUntil(0xff);
      continue;
    }
    if (marker === 0xff) {
      yield queue.take(1); // a fill byte before a marker
      continue;
    }
    if (marker === EOI) {
      // The image ends here. What phones and editors append after it (a second image of an MPF file, an HDR gain map,
      // a motion photo's video, a maker's trailer) can carry its own Exif and position, and no browser shows it: it is
      // read to its end and left out. Until 2026-12-06 it was stored as it came.
      yield queue.take(2);
      await queue.drain();
      return;
    }
    if (marker === 0xd8) return;
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      yield queue.take(2); // markers without a length, or a stray stuffed zero
      continue;
    }
    if (!(await queue.has(4))) return;
    const length = queue.peek(4).readUInt16BE(2);
    if (length < 2 || !(await queue.has(2 + length))) return;
    const segment = queue.take(2 + length);
    const payload = segment.subarray(4);
    if (marker === APP1 && startsWith(payload, EXIF)) {
      // Once: a file of many small Exif segments, each coming back 4 bytes longer, was stored over MEDIA_MAX_BYTES.
      const orientation = oriented ? undefined : exifOrientation(payload.subarray(6));
      if (orientation !== undefined && orientation !== 1) {
        oriented = true;
        yield orientationOnlyExif(orientation);
      }
    } else if (marker === APP0 && startsWith(payload, JFIF) && payload.length > JFIF_HEADER) {
      yield jfifWithoutThumbnail(segment);
    } else if (marker >= APP0 && marker <= APP15) {
      const signature = KEPT_APPLICATIONS.get(marker);
      if (signature && startsWith(payload, signature)) yield segment;
    } else if (marker !== COM) {
      yield segment;
    }
    // A scan's coded data follows its header, up to the next marker: more tables and scans (progressive), or the end.
    if (marker === SOS) yield* queue.passScan();
  }
}

/** A byte that makes a 0xFF in a scan's data part of it: a stuffed zero, or RST0 to RST7. */
const inScan = (byte: number) => byte === 0x00 || (byte >= 0xd0 && byte <= 0xd7);

const startsWith = (bytes: Buffer, prefix: Buffer) =>
  bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);

/** The Orientation (0x0112) in IFD0 of a TIFF structure, in either byte order; undefined if absent or unreadable. */
export function exifOrientation(tiff: Buffer): number | undefined {
  if (tiff.length < 8) return undefined;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const little = order === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  if (u16(2) !== 42) return undefined;
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return undefined;
  for (let entry = ifd + 2, left = u16(ifd); left > 0 && entry + 12 <= tiff.length; entry += 12, left--) {
    if (u16(entry) !== ORIENTATION_TAG) continue;
    if (u16(entry + 2) !== SHORT || u32(entry + 4) !== 1) return undefined;
    const value = u16(entry + 8);
    return value >= 1 && value <= 8 ? value : undefined;
  }
  return undefined;
}

/** A JFIF segment up to its thumbnail, announcing none. */
function jfifWithoutThumbnail(segment: Buffer): Buffer {
  const header = Buffer.from(segment.subarray(0, 4 + JFIF_HEADER)); // a copy: the length and the thumbnail size change
  header.writeUInt16BE(2 + JFIF_HEADER, 2);
  header.fill(0, 4 + JFIF_HEADER - 2);
  return header;
}

/** A big-endian TIFF header and an IFD0 with the one Orientation entry: all of Exif a stripped image keeps. */
function orientationOnlyTiff(orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM\0*', 0, 'latin1');
  tiff.writeUInt32BE(8, 4); // IFD0 right after the 8-byte TIFF header
  tiff.writeUInt16BE(1, 8);
  tiff.writeUInt16BE(ORIENTATION_TAG, 10);
  tiff.writeUInt16BE(SHORT, 12);
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt16BE(orientation, 18);
  // Bytes 20 to 25: the rest of the value field and "no next IFD", both zero.
  return tiff;
}

/** APP1 holding "Exif\0\0" and orientationOnlyTiff. */
function orientationOnlyExif(orientation: number): Buffer {
  const tiff = orientationOnlyTiff(orientation);
  const head = Buffer.alloc(10);
  head.writeUInt16BE(0xff00 | APP1, 0);
  head.writeUInt16BE(head.length - 2 + tiff.length, 2);
  head.write('Exif\0\0', 4, 'latin1');
  return Buffer.concat([head, tiff]);
}

const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');
/**
 * The ancillary chunks that change what is shown: transparency, colour (gamma, chromaticities, sRGB, the ICC profile,
 * cICP and the HDR mastering and light levels), significant bits, background, pixel density (Safari sizes an image by
 * it) and an animated PNG's control and frames. Every other ancillary chunk goes, whatever it holds: eXIf, the text
 * chunks (XMP), tIME, caBX (a C2PA manifest, whose `stds.exif` assertion can hold the GPS), Exif under the names used
 * before eXIf was registered (`exIf`, ImageMagick 6; `zxIf`), XMP where a 2001 draft put it (`tXMP`), a tool's own.
 * Until 2026-12-07 only the first six went and those under the older names, which exiftool reads, stayed.
 */
const PNG_KEPT_ANCILLARY = new Set([
  'tRNS',
  'gAMA',
  'cHRM',
  'sRGB',
  'iCCP',
  'cICP',
  'mDCV',
  'cLLI',
  'sBIT',
  'bKGD',
  'pHYs',
  'acTL',
  'fcTL',
  'fdAT',
]);
/**
 * eXIf goes, but an orientation other than 1 in one before the image data comes back in an eXIf of its own, as for a
 * JPEG: Safari and Firefox turn a PNG by it (PNG 3rd edition; one after IDAT is read by none). Until 2026-12-07 it
 * went, and such a photo showed turned.
 */
const PNG_EXIF = 'eXIf';
/** Critical chunks (the type's first letter in upper case) stay: a decoder needs them, or refuses the file for them. */
const keptPngChunk = (type: string) => (type.charCodeAt(0) & 0x20) === 0 || PNG_KEPT_ANCILLARY.has(type);

/**
 * Chunks after the signature, each kept or left out whole (so every CRC stays right): only the critical chunks and
 * PNG_KEPT_ANCILLARY stay, so EXIF, the text chunks (which carry XMP) and the modification time are left out, and so
 * is any chunk nobody listed. A chunk left out is held whole first, to be sure it is complete, up to a JPEG segment's
 * size; a longer one is skipped as it streams rather than held in memory, so a file that ends inside one loses its
 * start, though such a file was cut off and unreadable already (an eXIf that long loses its orientation too). What
 * follows IEND is left out.
 */
async function* pngWithoutMetadata(queue: ByteQueue): AsyncGenerator<Buffer> {
  if (!(await queue.has(8)) || !queue.peek(8).equals(PNG_SIGNATURE)) return;
  yield queue.take(8);
  let orientedOrTooLate = false;
  for (;;) {
    if (!(await queue.has(8))) return;
    const header = queue.peek(8);
    const length = header.readUInt32BE(0);
    const type = header.toString('latin1', 4, 8);
    if (length > 0x7fffffff || !/^[A-Za-z]{4}$/.test(type)) return;
    const total = 8 + length + 4;
    if (keptPngChunk(type)) {
      yield* queue.pass(total);
    } else if (total > MAX_SEGMENT) {
      await queue.skip(total);
    } else if (await queue.has(total)) {
      const chunk = queue.take(total);
      const orientation = type === PNG_EXIF && !orientedOrTooLate ? exifOrientation(chunk.subarray(8, -4)) : undefined;
      if (orientation !== undefined && orientation !== 1) {
        orientedOrTooLate = true;
        yield orientationOnlyPngExif(orientation);
      }
    } else {
      return;
    }
    if (type === 'IDAT') orientedOrTooLate = true;
    if (type === 'IEND') {
      // The image ends here, as at a JPEG's EOI: what follows (an appended file, a tool's trailer, with its own
      // metadata) no decoder reads. It is read to its end and left out. Until 2026-12-07 it was stored as it came.
      await queue.drain();
      return;
    }
  }
}

/** An eXIf chunk holding orientationOnlyTiff, with its CRC. */
function orientationOnlyPngExif(orientation: number): Buffer {
  const tiff = orientationOnlyTiff(orientation);
  const chunk = Buffer.alloc(12 + tiff.length);
  chunk.writeUInt32BE(tiff.length, 0);
  chunk.write(PNG_EXIF, 4, 'latin1');
  tiff.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + tiff.length)), 8 + tiff.length);
  return chunk;
}

const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;
/**
 * The chunks a WebP keeps: the image (lossy, lossless, its alpha), the extended header, the animation and its frames,
 * and the ICC profile. Every other chunk is blanked, whatever it holds: EXIF, XMP, C2PA (a manifest, as PNG's caBX),
 * and any chunk of a tool's own. Until 2026-12-07 only those three were, and a chunk type of unprintable bytes ended
 * the walk, the rest of the file (an EXIF after it included) passing unchanged.
 */
const WEBP_KEPT = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF', 'ICCP']);
/** Readers skip chunks of a type they do not know (WebP container specification, "Unknown Chunks"). */
const BLANKED = Buffer.from('JUNK', 'latin1');

/**
 * Chunks after the RIFF header. Every chunk's size adds up to the RIFF size at the start of the file, so leaving one
 * out would mean holding the whole file to rewrite that size. Chunks outside WEBP_KEPT are blanked instead: renamed to
 * a type readers skip, their bytes zeroed, and the VP8X flags announcing EXIF and XMP cleared. The file keeps its
 * length. The EXIF orientation goes with it; browsers do not turn a WebP by its EXIF orientation. Readers walk the
 * chunks by the same sizes and skip a type they do not know, whatever its bytes, so blanking one changes nothing shown.
 *
 * The walk ends at the end of the RIFF payload, and what follows it is read and left out, as after a JPEG's end:
 * readers (libwebp's demuxer, in browsers and sharp) read no further than the RIFF size, so nothing shown changes.
 * Until 2026-12-07 it was walked as more chunks and stored. A chunk that runs past that end is cut there; a VP8X the
 * walk cannot hold ends it, and the rest of the payload passes unchanged.
 */
async function* webpWithoutMetadata(queue: ByteQueue): AsyncGenerator<Buffer> {
  if (!(await queue.has(12))) return;
  const riff = queue.peek(12);
  if (riff.toString('latin1', 0, 4) !== 'RIFF' || riff.toString('latin1', 8, 12) !== 'WEBP') return;
  // The chunks' bytes: the RIFF size counts "WEBP" and them. Under one chunk header, no reader takes the file.
  let left = riff.readUInt32LE(4) - 4;
  if (left < 8) return;
  yield queue.take(12);
  while (left >= 8) {
    if (!(await queue.has(8))) return;
    const header = queue.peek(8);
    const type = header.toString('latin1', 0, 4);
    const size = header.readUInt32LE(4);
    const total = Math.min(8 + size + (size % 2), left); // chunks are padded to an even length
    if (type === 'VP8X') {
      // 10 bytes by the specification; the cap keeps a forged size from holding the whole upload.
      if (size < 10 || total < 18 || total > MAX_SEGMENT || !(await queue.has(total))) break;
      const chunk = Buffer.from(queue.take(total)); // a copy: the flags change
      chunk[8] &= ~(VP8X_EXIF | VP8X_XMP);
      yield chunk;
    } else if (WEBP_KEPT.has(type)) {
      yield* queue.pass(total);
    } else {
      yield Buffer.concat([BLANKED, queue.take(8).subarray(4)]);
      for await (const piece of queue.pass(total - 8)) yield Buffer.alloc(piece.length);
    }
    left -= total;
  }
  yield* queue.pass(left);
  await queue.drain();
}

const GIF_TRAILER = 0x3b;
const GIF_IMAGE = 0x2c;
const GIF_EXTENSION = 0x21;
const GIF_COMMENT = 0xfe;
const GIF_APPLICATION = 0xff;
/**
 * The application extensions a GIF keeps, by their 11-byte id: the animation's loop count (Netscape's, and the same
 * as AnimExts names it) and the ICC profile. Others go: XMP ("XMP DataXMP", whose exif: properties hold the GPS
 * position as Exif's do), ImageMagick's IPTC and Photoshop records ("MGKIPTC0000", "MGK8BIM0000"), and what an editor
 * may have put in one of its own; decoders skip application extensions they do not know.
 */
const GIF_KEPT_APPLICATIONS = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0', 'ICCRGBG1012']);

/** The bytes of a colour table that a GIF's packed field (screen or image descriptor) announces. */
const gifColourTable = (packed: number) => (packed & 0x80 ? 3 << ((packed & 0x07) + 1) : 0);

/**
 * The blocks after the header and logical screen (GIF89a), each kept or left out whole: comment extensions and
 * application extensions other than GIF_KEPT_APPLICATIONS go; images, their colour tables and the graphic control and
 * plain text extensions stay. What follows the trailer is read and left out, as after a JPEG's end. A block's data
 * comes in sub-blocks of at most 255 bytes, which pass, or are skipped, as they come.
 */
async function* gifWithoutMetadata(queue: ByteQueue): AsyncGenerator<Buffer> {
  if (!(await queue.has(13))) return;
  const screen = queue.peek(13);
  if (!/^GIF8[79]a$/.test(screen.toString('latin1', 0, 6))) return;
  yield* queue.pass(13 + gifColourTable(screen[10]));
  for (;;) {
    if (!(await queue.has(1))) return;
    const introducer = queue.peek(1)[0];
    if (introducer === GIF_TRAILER) {
      yield queue.take(1);
      await queue.drain();
      return;
    }
    if (introducer === GIF_IMAGE) {
      // The descriptor (10 bytes with its introducer), a local colour table (at most 768 bytes), the LZW code size.
      if (!(await queue.has(10))) return;
      const header = 10 + gifColourTable(queue.peek(10)[9]) + 1;
      if (!(await queue.has(header))) return;
      yield queue.take(header);
      yield* queue.passSubBlocks();
    } else if (introducer === GIF_EXTENSION) {
      if (!(await queue.has(2))) return;
      const label = queue.peek(2)[1];
      // An application extension's first sub-block is its id: 11 bytes.
      const application =
        label === GIF_APPLICATION && (await queue.has(14)) && queue.peek(14)[2] === 11
          ? queue.peek(14).toString('latin1', 3, 14)
          : undefined;
      if (label === GIF_COMMENT || (label === GIF_APPLICATION && !GIF_KEPT_APPLICATIONS.has(application ?? ''))) {
        queue.take(2);
        for await (const _piece of queue.passSubBlocks());
      } else {
        yield queue.take(2);
        yield* queue.passSubBlocks();
      }
    } else {
      return;
    }
  }
}

/**
 * has() calls between two turns of the event loop. Bytes already read are parsed in microtasks alone, which let no
 * other request in: a 9.5 MB PNG of 12-byte chunks held the event loop for 200–300 ms at a time while it was stored.
 */
export const PARSE_STEPS_PER_TURN = 1024;

/** An upload's bytes, read only as far ahead as the parser needs. */
class ByteQueue {
  private readonly source: AsyncIterator<Buffer>;
  private chunks: Buffer[] = [];
  private length = 0;
  private steps = 0;

  constructor(bytes: AsyncIterable<Buffer>) {
    this.source = bytes[Symbol.asyncIterator]();
  }

  /** Whether `n` bytes are there, reading from the source until they are or it ends. */
  async has(n: number): Promise<boolean> {
    if (++this.steps % PARSE_STEPS_PER_TURN === 0) await setImmediate();
    while (this.length < n) {
      const next = await this.source.next();
      if (next.done) return false;
      if (next.value.length === 0) continue;
      this.chunks.push(next.value);
      this.length += next.value.length;
    }
    return true;
  }

  /** The first `n` bytes, which has(n) found there. */
  peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  take(n: number): Buffer {
    const bytes = this.peek(n);
    const first = this.chunks[0].subarray(n);
    if (first.length > 0) this.chunks[0] = first;
    else this.chunks.shift();
    this.length -= n;
    return bytes;
  }

  /** Up to `n` bytes as they come, without holding them. */
  async *pass(n: number): AsyncGenerator<Buffer> {
    for (let left = n; left > 0 && (await this.has(1));) {
      const piece = this.take(Math.min(left, this.chunks[0].length));
      left -= piece.length;
      yield piece;
    }
  }

  /** The bytes before the next `byte` (or to the end), as they come, without holding them. */
  async *passUntil(byte: number): AsyncGenerator<Buffer> {
    while (await this.has(1)) {
      const at = this.chunks[0].indexOf(byte);
      if (at === 0) return;
      yield this.take(at < 0 ? this.chunks[0].length : at);
    }
  }

  /**
   * A JPEG scan's entropy-coded data as it comes, a piece per chunk read, up to the next marker: 0xFF followed by
   * anything but a stuffed zero or a restart marker (RST0 to RST7), which belong to the data.
   */
  async *passScan(): AsyncGenerator<Buffer> {
    while (await this.has(2)) {
      if (this.chunks[0].length < 2) this.peek(2); // joins a lone 0xFF to the bytes after it
      const chunk = this.chunks[0];
      let at = chunk.indexOf(0xff);
      while (at >= 0 && at + 1 < chunk.length && inScan(chunk[at + 1])) at = chunk.indexOf(0xff, at + 2);
      if (at < 0) yield this.take(chunk.length);
      else if (at + 1 === chunk.length)
        yield this.take(at); // the byte after this 0xFF is in the next chunk
      else {
        if (at > 0) yield this.take(at);
        return;
      }
    }
  }

  /**
   * GIF data sub-blocks as they come, a piece per chunk read, up to and with the terminator: each is a size byte and
   * that many bytes, and a size of 0 ends them.
   */
  async *passSubBlocks(): AsyncGenerator<Buffer> {
    // How far into the chunk the next size byte is: past its end while a sub-block goes on into the next chunk.
    let next = 0;
    while (await this.has(1)) {
      const chunk = this.chunks[0];
      while (next < chunk.length && chunk[next] !== 0) next += 1 + chunk[next];
      if (next < chunk.length) {
        yield this.take(next + 1);
        return;
      }
      next -= chunk.length;
      yield this.take(chunk.length);
    }
  }

  /** Reads the rest of the source and drops it. */
  async drain(): Promise<void> {
    for await (const _piece of this.rest());
  }

  async skip(n: number): Promise<void> {
    for await (const _piece of this.pass(n));
  }

  async *rest(): AsyncGenerator<Buffer> {
    const held = this.chunks;
    this.chunks = [];
    this.length = 0;
    yield* held;
    for (let next = await this.source.next(); !next.done; next = await this.source.next()) yield next.value;
  }

  async close(): Promise<void> {
    await this.source.return?.();
  }
}
