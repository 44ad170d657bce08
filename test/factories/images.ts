import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

const PNG_SIGNATURE_AND_HEADER = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489',
  'hex',
);

/**
 * A PNG's structure (signature, a 1×1 header chunk, one data chunk of `size` bytes): sniffed as image/png,
 * though no decoder can read the pixels. Random bytes by default, so nothing compresses it away.
 */
export function pngStructure(size: number, fill?: number): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(size);
  const data = fill === undefined ? randomBytes(size) : Buffer.alloc(size, fill);
  return Buffer.concat([PNG_SIGNATURE_AND_HEADER, length, Buffer.from('IDAT'), data]);
}

/**
 * A GIF with a 1 × 1 logical screen, a comment, then one 2-colour frame of `width` × `height` at (left, top): 40 bytes
 * that decoders grow to a canvas holding the frame, however large.
 */
export function gifWithFrame(width: number, height: number, left = 0, top = 0): Buffer {
  const u16 = (n: number) => [n & 0xff, n >> 8];
  return Buffer.from([
    ...Buffer.from('GIF89a'),
    ...[...u16(1), ...u16(1), 0x00, 0, 0],
    ...[0x21, 0xfe, 3, 0x61, 0x62, 0x63, 0],
    ...[0x2c, ...u16(left), ...u16(top), ...u16(width), ...u16(height), 0x80, 0, 0, 0, 255, 255, 255],
    ...[0x02, 0x02, 0x4c, 0x01, 0x00, 0x3b],
  ]);
}

/** A real image (noise, so it does not compress away) of the given size and format. */
export async function decodableImage(width: number, height: number, format: 'jpeg' | 'png' | 'gif' = 'jpeg') {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    [format]()
    .toBuffer();
}
