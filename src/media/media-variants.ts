import sharp from 'sharp';
import { MAX_IMAGE_PIXELS, type ImageSize } from './media-types.js';

/** Resized WebP copies made after upload: the longer side at most this many pixels, never enlarged. */
export const VARIANTS = { thumb: 128, medium: 512 } as const;
export type VariantName = keyof typeof VARIANTS;
export const VARIANT_NAMES = Object.keys(VARIANTS) as VariantName[];

/** The original could not be decoded: retrying cannot help. */
export class UnreadableImageError extends Error {}

export interface RenderedVariants {
  /** The original's dimensions, as decoded (after EXIF rotation). */
  size: ImageSize;
  variants: { name: VariantName; bytes: Buffer; size: ImageSize }[];
}

/**
 * Decodes `original` once per variant (the first frame of an animation), turns it upright as its EXIF says,
 * drops its metadata (so no GPS position survives into a variant) and encodes each size as WebP.
 */
export async function renderVariants(original: Buffer): Promise<RenderedVariants> {
  const image = () => sharp(original, { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'error' }).autoOrient();
  try {
    const { autoOrient: size } = await image().metadata();
    const variants = await Promise.all(
      VARIANT_NAMES.map(async (name) => {
        const { data, info } = await image()
          .resize({ width: VARIANTS[name], height: VARIANTS[name], fit: 'inside', withoutEnlargement: true })
          .webp({ quality: 80 })
          .toBuffer({ resolveWithObject: true });
        return { name, bytes: data, size: { width: info.width, height: info.height } };
      }),
    );
    return { size: { width: size.width, height: size.height }, variants };
  } catch (error) {
    throw new UnreadableImageError((error as Error).message);
  }
}
