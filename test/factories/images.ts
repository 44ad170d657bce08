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

/** A real image (noise, so it does not compress away) of the given size and format. */
export async function decodableImage(width: number, height: number, format: 'jpeg' | 'png' | 'gif' = 'jpeg') {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919) % 251;
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    [format]()
    .toBuffer();
}
