import { Readable } from 'node:stream';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { PARSE_STEPS_PER_TURN, stripMetadata } from './metadata-stripping.js';

const GPS_EXIF = {
  IFD0: { Copyright: 'taken at home' },
  IFD3: {
    GPSLatitudeRef: 'N',
    GPSLatitude: '52/1 31/1 12/1',
    GPSLongitudeRef: 'E',
    GPSLongitude: '13/1 24/1 18/1',
  },
};
const XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>';

const pixels = (width: number, height: number) => {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919) % 251;
  return sharp(raw, { raw: { width, height, channels: 3 } });
};
const decoded = (image: Buffer) => sharp(image).raw().toBuffer();

/** `bytes` in pieces of `size` bytes, as a stream hands them over. */
const pieces = (bytes: Buffer, size: number): AsyncIterable<Buffer> => {
  const all: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) all.push(bytes.subarray(at, at + size));
  return Readable.from(all);
};
async function collect(type: string, bytes: Buffer, size: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const piece of stripMetadata(type, pieces(bytes, size))) out.push(piece);
  return Buffer.concat(out);
}
/** The output for the file fed whole, after checking that 1-byte and 7-byte pieces give the same bytes. */
async function stripped(type: string, bytes: Buffer): Promise<Buffer> {
  const whole = await collect(type, bytes, bytes.length || 1);
  expect(await collect(type, bytes, 1)).toEqual(whole);
  expect(await collect(type, bytes, 7)).toEqual(whole);
  return whole;
}

const jpegSegment = (marker: number, payload: Buffer | string) => {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xff00 | marker, 0);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
};
/** `segments` inserted right after the SOI of `jpeg`. */
const withSegments = (jpeg: Buffer, ...segments: Buffer[]) =>
  Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);

/** The segments before the first Huffman table: marker, and an APPn's first four signature bytes. */
function jpegSegments(jpeg: Buffer): string[] {
  const segments: string[] = [];
  for (let at = 2; jpeg[at + 1] !== 0xc4; at += 2 + jpeg.readUInt16BE(at + 2)) {
    const marker = jpeg.toString('hex', at, at + 2);
    segments.push(
      jpeg[at + 1] >= 0xe0 && jpeg[at + 1] <= 0xef ? `${marker} ${jpeg.toString('latin1', at + 4, at + 8)}` : marker,
    );
  }
  return segments;
}

/** Exif APP1 with a big-endian TIFF: IFD0 holding the orientation, an Artist and a GPS IFD with a latitude ref. */
function bigEndianExif(orientation: number): Buffer {
  const tiff = Buffer.alloc(8 + 2 + 3 * 12 + 4 + 2 + 12 + 4 + 8);
  tiff.write('MM\0*', 0, 'latin1');
  tiff.writeUInt32BE(8, 4);
  tiff.writeUInt16BE(3, 8);
  const entry = (at: number, tag: number, type: number, count: number, value: number) => {
    tiff.writeUInt16BE(tag, at);
    tiff.writeUInt16BE(type, at + 2);
    tiff.writeUInt32BE(count, at + 4);
    if (type === 3) tiff.writeUInt16BE(value, at + 8);
    else tiff.writeUInt32BE(value, at + 8);
  };
  const gpsIfd = 8 + 2 + 36 + 4;
  entry(10, 0x0112, 3, 1, orientation);
  entry(22, 0x013b, 2, 4, 0x4a6f6500); // Artist "Joe"
  entry(34, 0x8825, 4, 1, gpsIfd);
  tiff.writeUInt16BE(1, gpsIfd);
  entry(gpsIfd + 2, 0x0001, 2, 2, 0x4e000000); // GPSLatitudeRef "N"
  return jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));
}

/** The Exif a stripped JPEG may keep: only IFD0's orientation, nothing else (in particular no GPS IFD). */
function expectOrientationOnly(exif: Buffer | undefined, orientation: number) {
  expect(exif).toBeDefined();
  const tiff = exif!.subarray(6);
  expect(tiff.subarray(0, 8)).toEqual(Buffer.from('4d4d002a00000008', 'hex'));
  expect(tiff.readUInt16BE(8)).toBe(1); // one entry
  expect(tiff.readUInt16BE(10)).toBe(0x0112);
  expect(tiff.readUInt16BE(18)).toBe(orientation);
  expect(tiff.readUInt32BE(22)).toBe(0); // no next IFD
  expect(tiff.length).toBe(26);
}

const pngChunkTypes = (png: Buffer) => {
  const types: string[] = [];
  for (let at = 8; at + 8 <= png.length; at += 12 + png.readUInt32BE(at))
    types.push(png.toString('latin1', at + 4, at + 8));
  return types;
};
/** A chunk with a correct CRC. */
const pngChunk = (type: string, data: string) => {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(data, 'latin1')]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length - 4);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
};
function crc32(bytes: Buffer): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}
/** `chunks` inserted after the IHDR chunk of `png`. */
const afterHeader = (png: Buffer, ...chunks: Buffer[]) =>
  Buffer.concat([png.subarray(0, 33), ...chunks, png.subarray(33)]);

describe('stripMetadata', () => {
  it('drops a JPEG’s Exif (GPS included), XMP, IPTC and comments, keeps its orientation, ICC profile and pixels', async () => {
    const original = withSegments(
      await pixels(40, 24)
        .jpeg()
        .withExif(GPS_EXIF)
        .withMetadata({ orientation: 6 })
        .withXmp(XMP)
        .withIccProfile('p3')
        .toBuffer(),
      jpegSegment(0xed, 'Photoshop 3.0\0 8BIM caption'),
      jpegSegment(0xfe, 'shot near the station'),
    );
    const before = await sharp(original).metadata();
    expect([before.orientation, before.exif && before.xmp && before.icc && true]).toEqual([6, true]);

    const out = await stripped('image/jpeg', original);
    const after = await sharp(out).metadata();
    expect(after.orientation).toBe(6);
    expectOrientationOnly(after.exif, 6);
    expect(after.xmp).toBeUndefined();
    expect(after.iptc).toBeUndefined();
    expect(after.comments).toBeUndefined();
    expect(after.icc).toEqual(before.icc);
    expect(out.includes('shot near the station')).toBe(false);
    expect(out.includes('taken at home')).toBe(false);
    expect(await decoded(out)).toEqual(await decoded(original));
  });

  it('drops Exif without an orientation entirely, and reads a big-endian orientation', async () => {
    const plain = await pixels(16, 16).jpeg().toBuffer();
    const upright = await stripped('image/jpeg', await pixels(16, 16).jpeg().withExif(GPS_EXIF).toBuffer());
    expect((await sharp(upright).metadata()).exif).toBeUndefined();

    const turned = await stripped('image/jpeg', withSegments(plain, bigEndianExif(8)));
    expect((await sharp(turned).metadata()).orientation).toBe(8);
    expectOrientationOnly((await sharp(turned).metadata()).exif, 8);
    expect(turned.includes('Joe')).toBe(false);

    const one = await stripped('image/jpeg', withSegments(plain, bigEndianExif(1)));
    expect(one).toEqual(plain);
  });

  it('drops a PNG’s eXIf, text and time chunks whole and keeps the others and the pixels', async () => {
    const original = afterHeader(
      await pixels(12, 10).png().withExif(GPS_EXIF).toBuffer(),
      pngChunk('tEXt', 'Comment\0shot near the station'),
      pngChunk('iTXt', `XML:com.adobe.xmp\0\0\0\0\0${XMP}`),
      pngChunk('zTXt', 'Author\0\0x'),
      pngChunk('tIME', '\x07\xea\x0c\x03\x01\x02\x03'),
    );
    expect(pngChunkTypes(original)).toEqual(['IHDR', 'tEXt', 'iTXt', 'zTXt', 'tIME', 'eXIf', 'pHYs', 'IDAT', 'IEND']);

    const out = await stripped('image/png', original);
    expect(pngChunkTypes(out)).toEqual(['IHDR', 'pHYs', 'IDAT', 'IEND']);
    const after = await sharp(out).metadata();
    expect([after.exif, after.xmp, after.comments]).toEqual([undefined, undefined, undefined]);
    expect(await decoded(out)).toEqual(await decoded(original));
  });

  it('keeps a PNG’s Exif orientation before its image data, which browsers turn it by, and nothing else', async () => {
    const upright = await pixels(12, 10).png().withExif(GPS_EXIF).toBuffer();
    const sideways = await pixels(12, 10).png().withExif(GPS_EXIF).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(sideways).metadata()).orientation).toBe(6);

    const out = await stripped('image/png', sideways);
    expect(pngChunkTypes(out)).toEqual(['IHDR', 'iCCP', 'eXIf', 'pHYs', 'IDAT', 'IEND']);
    expect(out.includes('taken at home')).toBe(false);
    const exif = out.subarray(out.indexOf('eXIf') + 4, out.indexOf('pHYs') - 8);
    expectOrientationOnly(Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), exif]), 6);
    expect((await sharp(out).metadata()).orientation).toBe(6); // a chunk a decoder reads, its CRC right
    expect(await decoded(out)).toEqual(await decoded(sideways));

    const noTurn = await stripped('image/png', upright);
    expect(pngChunkTypes(noTurn)).not.toContain('eXIf');
    // After IDAT it turns nothing in a browser (PNG 3rd edition), so it goes whole.
    const idat = sideways.indexOf('IDAT') - 4;
    const exifChunk = sideways.subarray(sideways.indexOf('eXIf') - 4, sideways.indexOf('pHYs') - 4);
    const late = Buffer.concat([
      sideways.subarray(0, sideways.indexOf('eXIf') - 4),
      sideways.subarray(sideways.indexOf('pHYs') - 4, idat),
      sideways.subarray(idat, sideways.indexOf('IEND') - 4),
      exifChunk,
      sideways.subarray(sideways.indexOf('IEND') - 4),
    ]);
    expect(pngChunkTypes(late)).toEqual(['IHDR', 'iCCP', 'pHYs', 'IDAT', 'eXIf', 'IEND']);
    expect(pngChunkTypes(await stripped('image/png', late))).toEqual(['IHDR', 'iCCP', 'pHYs', 'IDAT', 'IEND']);
  });

  it('keeps only PNG chunks that change what is shown: Exif under older names and private chunks go', async () => {
    const exif = (await pixels(8, 8).png().withExif(GPS_EXIF).toBuffer()).toString('latin1');
    const tiff = exif.slice(exif.indexOf('eXIf') + 4, exif.indexOf('pHYs') - 8);
    const original = afterHeader(
      await pixels(12, 10).png().toBuffer(),
      pngChunk('gAMA', '\0\0\xb1\x8f'),
      pngChunk('exIf', tiff), // where ImageMagick 6 wrote Exif before eXIf was registered; exiftool reads it
      pngChunk('zxIf', `\0${tiff}`), // the once-proposed compressed Exif, which exiftool reads too
      pngChunk('tXMP', XMP), // XMP where a 2001 draft of its specification put it
      pngChunk('prVW', 'a preview, cropped from the whole picture'),
      pngChunk('tRNS', '\0\x01\0\x02\0\x03'),
    );
    expect((await sharp(original).metadata()).format).toBe('png'); // still a valid image

    const out = await stripped('image/png', original);
    expect(pngChunkTypes(out)).toEqual(['IHDR', 'gAMA', 'tRNS', 'pHYs', 'IDAT', 'IEND']);
    expect(original.includes('taken at home')).toBe(true); // the Exif's copyright, beside its GPS position
    expect(out.includes('taken at home')).toBe(false);
    expect(out.includes('xmpmeta')).toBe(false);
    expect(await decoded(out)).toEqual(await decoded(original));
  });

  it('keeps an animated PNG’s frames', async () => {
    const frame = (pixels: Buffer) =>
      sharp(pixels, { raw: { width: 4, height: 4, channels: 3 } })
        .png()
        .toBuffer();
    const first = await frame(Buffer.alloc(48, 10));
    const second = await frame(Buffer.alloc(48, 200));
    const idat = (png: Buffer) => png.subarray(png.indexOf('IDAT') + 4, png.indexOf('IEND') - 8).toString('latin1');
    const u32 = (...values: number[]) => Buffer.concat(values.map((v) => Buffer.from([v >>> 24, v >> 16, v >> 8, v])));
    // 4 × 4 at (0, 0), shown for 1/10 s, then neither disposed nor blended.
    const control = (sequence: number) => `${u32(sequence, 4, 4, 0, 0).toString('latin1')}\0\x01\0\x0a\0\0`;
    const animated = Buffer.concat([
      first.subarray(0, 33),
      pngChunk('acTL', u32(2, 0).toString('latin1')),
      pngChunk('fcTL', control(0)),
      pngChunk('IDAT', idat(first)),
      pngChunk('fcTL', control(1)),
      pngChunk('fdAT', `${u32(2).toString('latin1')}${idat(second)}`),
      pngChunk('IEND', ''),
    ]);
    expect((await sharp(animated).metadata()).format).toBe('png');

    expect(await stripped('image/png', animated)).toEqual(animated);
  });

  it('blanks a WebP’s EXIF and XMP chunks in place, keeping its length, its other chunks and its pixels', async () => {
    const original = await pixels(12, 10).webp({ lossless: true }).withExif(GPS_EXIF).withXmp(XMP).toBuffer();
    const before = await sharp(original).metadata();
    expect([before.exif, before.xmp].every(Boolean)).toBe(true);

    const out = await stripped('image/webp', original);
    expect(out.length).toBe(original.length);
    expect(out.readUInt32LE(4)).toBe(original.readUInt32LE(4));
    expect(out[20] & 0x0c).toBe(0); // the VP8X flags: no EXIF, no XMP
    expect(out.indexOf('GPS')).toBe(-1);
    expect(out.indexOf('xmpmeta')).toBe(-1);
    const after = await sharp(out).metadata();
    expect([after.exif, after.xmp]).toEqual([undefined, undefined]);
    expect(await decoded(out)).toEqual(await decoded(original));
  });

  it('leaves images without metadata, and GIF, byte for byte as they are', async () => {
    for (const [type, image] of [
      ['image/jpeg', await pixels(20, 20).jpeg().toBuffer()],
      ['image/png', await pixels(20, 20).png().toBuffer()],
      ['image/webp', await pixels(20, 20).webp().toBuffer()],
      ['image/gif', await pixels(20, 20).gif().toBuffer()],
    ] as const) {
      expect(await stripped(type, image)).toEqual(image);
    }
  });

  it('passes malformed or cut-off files on unchanged from where it stops understanding them', async () => {
    const jpeg = withSegments(await pixels(8, 8).jpeg().withExif(GPS_EXIF).toBuffer());
    const png = await pixels(8, 8).png().withExif(GPS_EXIF).toBuffer();
    const pngWithoutCrc = Buffer.concat([png.subarray(0, 33), Buffer.from('00000010', 'hex'), Buffer.from('IDAT')]);
    const exifAt = jpeg.indexOf('Exif') - 4;
    for (const [type, bytes] of [
      ['image/jpeg', jpeg.subarray(0, exifAt + 100)], // ends inside the Exif segment
      ['image/jpeg', Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xe0, 0x00, 0x01]), jpeg.subarray(2)])],
      ['image/jpeg', jpeg.subarray(0, 3)],
      ['image/png', png.subarray(0, png.indexOf('eXIf') + 50)], // ends inside the eXIf chunk
      ['image/png', Buffer.concat([pngWithoutCrc, Buffer.alloc(16, 7)])], // the tests' PNG structure
      ['image/png', Buffer.concat([png.subarray(0, 33), Buffer.from('0000000a7e5854ff', 'hex'), png.subarray(33)])],
      ['image/png', png.subarray(0, 5)],
    ] as const) {
      expect(await stripped(type, bytes)).toEqual(bytes);
    }
  });

  it('reads no further ahead than a segment when a WebP VP8X chunk claims to be larger', async () => {
    // The VP8X chunk is 10 bytes; this one claims almost 2 GiB, and 10 MiB follow.
    const header = Buffer.alloc(30);
    header.write('RIFF', 0, 'latin1');
    header.writeUInt32LE(0x7ffffff8, 4);
    header.write('WEBPVP8X', 8, 'latin1');
    header.writeUInt32LE(0x7ffffff0, 16);
    let pulled = 0;
    function* upload() {
      for (const piece of [header, ...Array.from({ length: 160 }, () => Buffer.alloc(64 * 1024, 1))]) {
        pulled += piece.length;
        yield piece;
      }
    }
    let out = 0;
    for await (const piece of stripMetadata(
      'image/webp',
      Readable.from(upload(), { objectMode: true, highWaterMark: 1 }),
    )) {
      out += piece.length;
      if (out > 12) break;
    }
    expect(pulled).toBeLessThanOrEqual(128 * 1024);
  });

  it('ends its source when its reader stops early', async () => {
    let ended = false;
    const endless: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve({ done: false, value: Buffer.from('ffd8ffe0', 'hex') }),
        return: () => {
          ended = true;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
    for await (const _piece of stripMetadata('image/jpeg', endless)) break;
    expect(ended).toBe(true);
  });
});

describe('stripMetadata of a file of many small parts', () => {
  const PNG_HEADER = '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489';
  /** A 1 × 1 PNG header, then `count` empty chunks of `type` (12 bytes each). */
  const pngOfChunks = (type: string, count: number) => {
    const chunk = Buffer.alloc(12);
    chunk.write(type, 4, 'latin1');
    return Buffer.concat([Buffer.from(PNG_HEADER, 'hex'), ...Array.from({ length: count }, () => chunk)]);
  };
  /** How many times a turn of the event loop came while the file, there at once, was parsed to its end. */
  async function turnsWhileParsing(type: string, file: Buffer): Promise<number> {
    let turns = 0;
    let parsing = true;
    const count = () => {
      if (!parsing) return;
      turns++;
      setImmediate(count);
    };
    setImmediate(count);
    for await (const _piece of stripMetadata(type, Readable.from([file])));
    parsing = false;
    return turns;
  }

  it('lets the event loop turn while it parses one, every PARSE_STEPS_PER_TURN chunks', async () => {
    // Parsed in microtasks alone, a 9.5 MB PNG of 12-byte chunks held the event loop for 200–300 ms at a time.
    const count = 10 * PARSE_STEPS_PER_TURN;
    for (const type of ['abCd', 'tEXt'])
      expect(await turnsWhileParsing('image/png', pngOfChunks(type, count)), type).toBeGreaterThanOrEqual(9);
    const comments = Buffer.concat(Array.from({ length: count }, () => Buffer.from('fffe0002', 'hex')));
    const jpeg = Buffer.concat([Buffer.from('ffd8', 'hex'), comments]);
    expect(await turnsWhileParsing('image/jpeg', jpeg)).toBeGreaterThanOrEqual(9);
  });
});

describe('stripMetadata: what still carries a position', () => {
  /** A C2PA manifest's `stds.exif` assertion, as the C2PA specification's own example has it (GPS included). */
  const C2PA_EXIF = Buffer.from(
    '{"label":"stds.exif","data":{"exif:GPSLatitude":"39,21.102N","exif:GPSLongitude":"74,26.5737W"}}',
    'latin1',
  );
  const riffChunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.write(type, 0, 'latin1');
    head.writeUInt32LE(data.length, 4);
    return Buffer.concat([head, data, Buffer.alloc(data.length % 2)]);
  };

  /** A WebP's chunks after its RIFF header, each with its header and padding. */
  const chunksOf = (webp: Buffer) => {
    const chunks: Buffer[] = [];
    for (let at = 12; at + 8 <= webp.length;) {
      const size = webp.readUInt32LE(at + 4);
      const end = at + 8 + size + (size % 2);
      chunks.push(webp.subarray(at, end));
      at = end;
    }
    return chunks;
  };
  const KEPT = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF', 'ICCP']);

  it('drops C2PA manifests (JPEG APP11 JUMBF, PNG caBX, WebP C2PA), whose stds.exif assertion holds the GPS', async () => {
    // APP11: "JP", box instance 1, sequence 1, then the JUMBF superbox labelled c2pa.
    const jumbf = Buffer.concat([Buffer.from('4a5000010000000100000000', 'hex'), Buffer.from('jumb'), C2PA_EXIF]);
    const jpeg = withSegments(await pixels(16, 16).jpeg().toBuffer(), jpegSegment(0xeb, jumbf));
    const png = afterHeader(await pixels(8, 8).png().toBuffer(), pngChunk('caBX', C2PA_EXIF.toString('latin1')));
    const webp = await pixels(8, 8).webp().withXmp(XMP).toBuffer(); // extended format: VP8X first
    const webpBody = Buffer.concat([webp.subarray(12), riffChunk('C2PA', C2PA_EXIF)]);
    const riff = Buffer.from(webp.subarray(0, 12));
    riff.writeUInt32LE(4 + webpBody.length, 4);
    const webpWithManifest = Buffer.concat([riff, webpBody]);
    for (const [type, image] of [
      ['image/jpeg', jpeg],
      ['image/png', png],
      ['image/webp', webpWithManifest],
    ] as const) {
      expect((await sharp(image).metadata()).format, type).toBeDefined(); // still a valid image
      const out = await stripped(type, image);
      expect(out.includes('GPSLatitude'), type).toBe(false);
      expect(await decoded(out)).toEqual(await decoded(image));
    }
  });
  it('leaves out what follows the end of a JPEG (a second MPF image, a motion photo), with the position it carries', async () => {
    const photo = await pixels(64, 48).jpeg().toBuffer();
    const appended = await pixels(16, 16).jpeg().withExif(GPS_EXIF).toBuffer();
    const video = Buffer.concat([Buffer.from('\0\0\0\x18ftypmp42', 'latin1'), Buffer.from('©xyz+52.52+013.40/')]);
    const motion = Buffer.concat([photo, appended, video]);
    const out = await stripped('image/jpeg', motion);
    expect(out).toEqual(photo);
    expect(out.includes('GPS')).toBe(false);
    expect(out.includes('©xyz')).toBe(false);
  });

  it('leaves out what follows the end of a PNG (IEND), with the position it carries', async () => {
    const png = await pixels(12, 10).png().toBuffer();
    const appended = await pixels(16, 16).jpeg().withExif(GPS_EXIF).toBuffer();
    const original = Buffer.concat([png, appended, Buffer.from('©xyz+52.52+013.40/')]);
    expect((await sharp(original).metadata()).format).toBe('png'); // still a valid image

    const out = await stripped('image/png', original);
    expect(out).toEqual(png);
    expect(await decoded(out)).toEqual(await decoded(original));
  });

  it('blanks every WebP chunk but the image’s, an unknown one and one named in unprintable bytes included', async () => {
    const webp = await pixels(12, 10).webp({ lossless: true }).withExif(GPS_EXIF).withIccProfile('p3').toBuffer();
    const [vp8x, ...rest] = chunksOf(webp);
    // An editor's own chunk with the position, then one whose type is not text, ahead of the EXIF.
    const body = Buffer.concat([
      vp8x,
      riffChunk('PRIV', Buffer.from('GPS 52.52 13.40')),
      riffChunk('\x00\x01\x02\x03', Buffer.from('GPS 52.52 13.40')),
      ...rest,
    ]);
    const riff = Buffer.from(webp.subarray(0, 12));
    riff.writeUInt32LE(4 + body.length, 4);
    const original = Buffer.concat([riff, body]);
    expect((await sharp(original).metadata()).exif).toBeDefined(); // still a valid image, its EXIF read

    const out = await stripped('image/webp', original);
    expect(out.length).toBe(original.length);
    expect(out.includes('GPS')).toBe(false);
    expect(out.includes('taken at home')).toBe(false);
    expect(chunksOf(out).map((chunk) => chunk.toString('latin1', 0, 4))).toEqual(
      chunksOf(original)
        .map((chunk) => chunk.toString('latin1', 0, 4))
        .map((type) => (KEPT.has(type) ? type : 'JUNK')),
    );
    const after = await sharp(out).metadata();
    expect([after.exif, after.icc === undefined]).toEqual([undefined, false]); // the colour profile stays
    expect(await decoded(out)).toEqual(await decoded(original));
  });

  it('leaves out what follows a WebP’s RIFF payload, which readers ignore, with the position it carries', async () => {
    const webp = await pixels(12, 10).webp({ lossless: true }).toBuffer();
    const withExif = await pixels(12, 10).webp({ lossless: true }).withExif(GPS_EXIF).toBuffer();
    const trailer = Buffer.concat([riffChunk('ZZZZ', Buffer.from('GPS 52.52 13.40')), Buffer.from('GPS 52.52 13.40')]);
    for (const image of [webp, withExif]) {
      const original = Buffer.concat([image, trailer]);
      expect((await sharp(original).metadata()).format).toBe('webp'); // still a valid image

      const out = await stripped('image/webp', original);
      expect(out).toEqual(image === webp ? webp : await stripped('image/webp', withExif));
      expect(out.includes('GPS')).toBe(false);
      expect(await decoded(out)).toEqual(await decoded(original));
    }
  });

  it('drops a GIF’s comments, XMP (GPS included) and other application data, and what follows its end', async () => {
    const gif = await pixels(8, 8).gif().toBuffer();
    const packed = gif[10];
    const screenEnd = 13 + (packed & 0x80 ? 3 << ((packed & 7) + 1) : 0);
    /** `data` in sub-blocks of at most 255 bytes, each after its size. */
    const subBlocks = (data: Buffer) => {
      const blocks: Buffer[] = [];
      for (let at = 0; at < data.length; at += 255) blocks.push(Buffer.from([data.subarray(at, at + 255).length]));
      return Buffer.concat(blocks.flatMap((size, i) => [size, data.subarray(i * 255, i * 255 + 255)]));
    };
    /** An extension: introducer, label, sub-blocks (an application's first holds its 11-byte id), terminator. */
    const extension = (label: number, ...blocks: Buffer[]) =>
      Buffer.concat([Buffer.from([0x21, label]), ...blocks.map(subBlocks), Buffer.from([0])]);
    const application = (id: string, data: Buffer) => extension(0xff, Buffer.from(id), data);
    const gpsXmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="52,31.2N"/></x:xmpmeta>';
    // XMP as the XMP specification (part 3) embeds it in a GIF: raw, then a "magic trailer" that takes a reader walking
    // sub-blocks from any byte of the packet to the terminator.
    const magicTrailer = Buffer.from([1, ...Array.from({ length: 256 }, (_, i) => 255 - i), 0]);
    const xmp = Buffer.concat([
      Buffer.from([0x21, 0xff, 11]),
      Buffer.from('XMP DataXMP'),
      Buffer.from(gpsXmp),
      magicTrailer,
    ]);
    const loop = application('NETSCAPE2.0', Buffer.from([1, 0, 0])); // loop forever
    const icc = application('ICCRGBG1012', Buffer.from('an ICC profile'));
    const original = Buffer.concat([
      gif.subarray(0, screenEnd),
      loop,
      extension(0xfe, Buffer.from('shot at home, 52.5200 N 13.4050 E '.repeat(10))),
      xmp,
      application('MGK8BIM0000', Buffer.from('8BIM IPTC City: Berlin')),
      icc,
      gif.subarray(screenEnd),
      Buffer.from('appended GPS 52.52 13.40'),
    ]);
    expect((await sharp(original).metadata()).format).toBe('gif'); // still a valid image

    const out = await stripped('image/gif', original);
    expect(out).toEqual(Buffer.concat([gif.subarray(0, screenEnd), loop, icc, gif.subarray(screenEnd)]));
    for (const left of ['52.5', 'GPS', 'IPTC']) expect(out.includes(left), left).toBe(false);
    expect(await decoded(out)).toEqual(await decoded(gif));
  });

  it('walks every scan of a progressive JPEG, with its tables between scans, and keeps the image whole', async () => {
    const progressive = await pixels(200, 150).jpeg({ progressive: true }).withExif(GPS_EXIF).toBuffer();
    const out = await stripped('image/jpeg', Buffer.concat([progressive, Buffer.from('trailer')]));
    expect(exifHasGps((await sharp(out).metadata()).exif)).toBe(false);
    expect(await decoded(out)).toEqual(await decoded(progressive));
    // Every byte of the image but its Exif segment is kept, its end included.
    const exifAt = progressive.indexOf('Exif') - 4;
    const exifLength = 2 + progressive.readUInt16BE(exifAt + 2);
    expect(out).toEqual(Buffer.concat([progressive.subarray(0, exifAt), progressive.subarray(exifAt + exifLength)]));
  });

  it('drops the Exif of a JPEG that has a stray byte before a marker, which decoders skip and read the Exif after', async () => {
    const photo = await pixels(16, 16).jpeg().withExif(GPS_EXIF).toBuffer();
    const padded = Buffer.concat([photo.subarray(0, 2), Buffer.from([0x00]), photo.subarray(2)]);
    // libjpeg (sharp, browsers) skips the byte with a warning and reads the Exif, GPS and all.
    expect(exifHasGps((await sharp(padded).metadata()).exif)).toBe(true);
    const out = await stripped('image/jpeg', padded);
    expect(exifHasGps((await sharp(out).metadata()).exif)).toBe(false);
    // Decoded as browsers do, past the warning about the stray byte.
    const lenient = (image: Buffer) => sharp(image, { failOn: 'none' }).raw().toBuffer();
    expect(await lenient(out)).toEqual(await decoded(photo));
    // Several, and a stuffed zero where a marker should be: the same. The stray bytes themselves stay.
    const text = Buffer.concat([
      photo.subarray(0, 2),
      Buffer.from('not a marker\xff\x00', 'latin1'),
      photo.subarray(2),
    ]);
    const plain = await stripped('image/jpeg', text);
    expect(exifHasGps((await sharp(plain).metadata()).exif)).toBe(false);
    expect(plain.subarray(0, 16)).toEqual(text.subarray(0, 16));
  });
});

/** Whether an Exif block's IFD0 points to a GPS IFD (tag 0x8825), in either byte order. */
function exifHasGps(exif: Buffer | undefined): boolean {
  if (!exif) return false;
  const tiff = exif.subarray(6);
  const little = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const ifd = little ? tiff.readUInt32LE(4) : tiff.readUInt32BE(4);
  for (let i = 0; i < u16(ifd); i++) if (u16(ifd + 2 + 12 * i) === 0x8825) return true;
  return false;
}

describe('stripMetadata of a JPEG with more than one Exif segment', () => {
  it('keeps one orientation, so the stored file is never longer than the upload (MEDIA_MAX_BYTES holds)', async () => {
    // 22 bytes of TIFF (header, one IFD0 entry: orientation 6, no next-IFD field): a 32-byte segment, each of which
    // came back as a 36-byte one.
    const tiff = Buffer.from('4d4d002a00000008' + '0001' + '011200030000000100060000', 'hex');
    const exif = jpegSegment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]));
    expect(exif.length).toBe(32);
    const photo = withSegments(await pixels(16, 16).jpeg().toBuffer(), ...Array.from({ length: 1000 }, () => exif));
    const out = await stripped('image/jpeg', photo);
    expect(out.length).toBeLessThanOrEqual(photo.length);
    expect((await sharp(out).metadata()).orientation).toBe(6);
  });
});

describe('stripMetadata of a JPEG: the application segments kept', () => {
  it('keeps JFIF (without its thumbnail), ICC, Adobe’s APP14 and the orientation, and no other APPn', async () => {
    const photo = await pixels(24, 16).jpeg().withIccProfile('p3').toBuffer();
    /** JFIF 1.02, 72 dpi, and the `width` × `height` RGB thumbnail it announces (a preview of the uncropped photo). */
    const jfif = (width: number, height: number) =>
      jpegSegment(
        0xe0,
        Buffer.concat([Buffer.from('4a46494600010201004800480000', 'hex'), Buffer.alloc(3 * width * height, 0x7f)])
          .fill(width, 12, 13)
          .fill(height, 13, 14),
      );
    const adobe = jpegSegment(0xee, Buffer.from('41646f62650064000000000001', 'hex')); // "Adobe", transform 1: YCbCr
    const original = withSegments(
      photo,
      jfif(2, 2),
      // A JFXX extension holds nothing but a thumbnail, which may be a JPEG of its own with its own Exif.
      jpegSegment(0xe0, Buffer.concat([Buffer.from('JFXX\0\x10', 'latin1'), bigEndianExif(1)])),
      jpegSegment(0xe0, 'AVI1\0\0\0\0\0\0\0\0\0\0'),
      jpegSegment(0xe1, `XMP\0://ns.adobe.com/xap/1.0/\0${XMP} GPSLatitude`), // the older XMP signature
      jpegSegment(0xe1, 'http://ns.adobe.com/xap/1.0/\0GPSLatitude'),
      jpegSegment(0xe2, 'MPF\0II*\0 GPSLatitude'),
      jpegSegment(0xe2, 'FPXR\0\0\0 GPSLatitude'),
      ...[0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea].map((marker) => jpegSegment(marker, 'Meta\0 GPSLatitude')),
      jpegSegment(0xeb, 'not JUMBF GPSLatitude'),
      jpegSegment(0xec, 'Ducky\0\x01\0\x04\0\0\0\x32\0\x02\0\x20\0\0\0\x0dGPSLatitude (c) Joe'),
      jpegSegment(0xed, 'Adobe_CM GPSLatitude'),
      jpegSegment(0xee, 'not Adobe GPSLatitude'),
      jpegSegment(0xef, 'GPSLatitude'),
      adobe,
      bigEndianExif(6),
    );
    expect((await sharp(original).metadata()).format).toBe('jpeg'); // still a valid image

    const out = await stripped('image/jpeg', original);
    const exif = Buffer.from(
      'ffe10022457869660000' + '4d4d002a00000008' + '0001' + '011200030000000100060000' + '00000000',
      'hex',
    );
    expect(jpegSegments(out)).toEqual(['ffe0 JFIF', 'ffee Adob', 'ffe1 Exif', 'ffe2 ICC_', 'ffdb', 'ffdb', 'ffc0']);
    expect(out).toEqual(withSegments(photo, jfif(0, 0), adobe, exif));
    expect(out.includes('GPSLatitude')).toBe(false);
    expect((await sharp(out).metadata()).orientation).toBe(6);
    expect(await decoded(out)).toEqual(await decoded(original));
  });
});
