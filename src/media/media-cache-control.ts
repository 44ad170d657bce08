/** A variant asked for before it exists gets the original, cached briefly so the variant replaces it soon. */
const VARIANT_PENDING_MAX_AGE_S = 60;

/**
 * A download's Cache-Control for MEDIA_CACHE_MAX_AGE_S. `immutable` only with a lifetime to keep: at 0 (the default
 * outside production, as the Vesta report caches static files) a browser revalidates every time, and a pending
 * variant is kept no longer than a finished file.
 */
export function mediaCacheControl(maxAgeS: number, variantPending: boolean): string {
  if (variantPending) return `public, max-age=${Math.min(VARIANT_PENDING_MAX_AGE_S, maxAgeS)}`;
  return maxAgeS > 0 ? `public, max-age=${maxAgeS}, immutable` : 'public, max-age=0';
}
