import { fileTypeFromBuffer } from 'file-type';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import type * as imageSizeModule from 'image-size';
import { imageSize } from 'image-size';
import { describe, expect, it, vi } from 'vitest';
import { gifWithFrame } from '../../test/factories/images.js';
import { MAX_JPEG_STEPS, sizeFromHeader, sniffMediaType } from './media-types.js';

// image-size as it is, with its calls counted.
vi.mock('image-size', async (importOriginal) => {
  const original = await importOriginal<typeof imageSizeModule>();
  return { ...original, imageSize: vi.fn(original.imageSize) };
});

describe('sizeFromHeader', () => {
  it('reads the size a complete PNG header declares', () => {
    const header = Buffer.from('89504e470d0a1a0a0000000d4948445200000280000001e0', 'hex');
    expect(sizeFromHeader(header)).toEqual({ width: 640, height: 480 });
  });

  it('finds no size in a truncated header, whatever lies after it in memory', () => {
    // A 16-byte upload, sliced out of a larger buffer as Node's pool does with small buffers.
    const memory = Buffer.alloc(64, 0x41);
    Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').copy(memory);
    expect(sizeFromHeader(memory.subarray(0, 16))).toBeUndefined();
  });
});

describe('sizeFromHeader of a JPEG', () => {
  const jpeg = (orientation?: number) =>
    sharp({ create: { width: 64, height: 48, channels: 3, background: '#808080' } })
      .withMetadata(orientation ? { orientation } : {})
      .jpeg()
      .toBuffer();
  /** `bytes` put after the JPEG's first segment (APP0), before the rest. */
  const withAfterFirstSegment = (file: Buffer, bytes: Buffer) => {
    const end = 4 + file.readUInt16BE(4);
    return Buffer.concat([file.subarray(0, end), bytes, file.subarray(end)]);
  };

  it('reads the size, turned by the EXIF orientation, also after many segments', async () => {
    expect(sizeFromHeader(await jpeg())).toEqual({ width: 64, height: 48 });
    expect(sizeFromHeader(await jpeg(6))).toEqual({ width: 48, height: 64 });
    const comments = Buffer.concat(Array.from({ length: 1_000 }, () => Buffer.from('fffe0002', 'hex')));
    expect(sizeFromHeader(withAfterFirstSegment(await jpeg(), comments))).toEqual({ width: 64, height: 48 });
  });

  it('does not hand image-size a JPEG it would take more than MAX_JPEG_STEPS steps to size', async () => {
    // Each step allocates: the signature and 1 MiB of zeros took 900 ms of the event loop, read again per 64 KiB.
    const zeros = Buffer.concat([Buffer.from('ffd8ffe00010', 'hex'), Buffer.alloc(2 ** 20)]);
    const comments = Buffer.concat(Array.from({ length: MAX_JPEG_STEPS }, () => Buffer.from('fffe0002', 'hex')));
    vi.mocked(imageSize).mockClear();
    expect(sizeFromHeader(zeros)).toBeUndefined();
    expect(sizeFromHeader(withAfterFirstSegment(await jpeg(), comments))).toBeUndefined();
    expect(imageSize).not.toHaveBeenCalled();
  });
});

describe('sizeFromHeader of a GIF', () => {
  it('grows the logical screen to the first frame, as decoders do (a 40-byte GIF of 64 megapixels)', async () => {
    const bomb = gifWithFrame(8000, 8000);
    expect(sizeFromHeader(bomb)).toEqual({ width: 8000, height: 8000 });
    // What the variants job's decoder makes of it.
    const decoded = await sharp(bomb).metadata();
    expect({ width: decoded.width, height: decoded.height }).toEqual({ width: 8000, height: 8000 });
    expect(sizeFromHeader(gifWithFrame(10, 20, 7990, 5980))).toEqual({ width: 8000, height: 6000 });
  });

  it('reads an ordinary GIF as its screen, and finds no size before the first frame is in', async () => {
    const gif = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#808080' } })
      .gif()
      .toBuffer();
    expect(sizeFromHeader(gif)).toEqual({ width: 30, height: 20 });
    expect(sizeFromHeader(gifWithFrame(8000, 8000).subarray(0, 20))).toBeUndefined();
  });
});

describe('sniffMediaType', () => {
  it('finds no type in a PNG signature cut off before its first chunk header, rather than failing', async () => {
    for (const hex of ['89504e470d0a1a0a', '89504e470d0a1a0a00000010'])
      await expect(sniffMediaType(Buffer.from(hex, 'hex')), hex).resolves.toBeUndefined();
  });

  it('takes an animated PNG as the PNG it is', async () => {
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    // An acTL chunk (frames, plays) right after IHDR is what makes a PNG animated.
    const data = Buffer.concat([Buffer.from('acTL'), Buffer.from('0000000100000000', 'hex')]);
    const chunk = Buffer.alloc(8 + data.length);
    chunk.writeUInt32BE(8, 0);
    data.copy(chunk, 4);
    chunk.writeUInt32BE(crc32(data), 4 + data.length);
    const ihdrEnd = 8 + 8 + 13 + 4;
    const apng = Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
    expect((await fileTypeFromBuffer(apng))?.mime).toBe('image/apng');
    await expect(sniffMediaType(apng)).resolves.toBe('image/png');
  });
});
