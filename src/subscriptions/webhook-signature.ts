import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'vesta-signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, the scheme most card processors use. */
export function sign(secret: string, rawBody: Buffer | string, timestampS: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampS}.`).update(rawBody).digest('hex');
  return `t=${timestampS},v1=${mac}`;
}

/**
 * Why a signature is not acceptable, or undefined when it is: it must parse, match the raw body in
 * constant time, and be at most `toleranceS` old (or early), so a captured request cannot be replayed later.
 */
export function signatureProblem(
  header: string | undefined,
  rawBody: Buffer,
  secret: string,
  toleranceS: number,
  nowS = Math.floor(Date.now() / 1000),
): string | undefined {
  const match = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return 'missing or malformed signature header';
  const timestampS = Number(match[1]);
  if (Math.abs(nowS - timestampS) > toleranceS) return 'signature timestamp outside the tolerance';
  const expected = Buffer.from(sign(secret, rawBody, timestampS).slice(-64), 'hex');
  return timingSafeEqual(expected, Buffer.from(match[2], 'hex')) ? undefined : 'signature does not match';
}
