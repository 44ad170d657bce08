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
 * One `v1` matching is enough: while a provider rolls its secret it signs with the old and the new one
 * (`t=…,v1=…,v1=…`), and refusing that header would refuse every delivery until the roll ended. Other schemes
 * (a test-mode `v0`) are ignored.
 */
export function signatureProblem(
  header: string | undefined,
  rawBody: Buffer,
  secret: string,
  toleranceS: number,
  nowS = Math.floor(Date.now() / 1000),
): string | undefined {
  const parsed = parseHeader(header ?? '');
  if (!parsed) return 'missing or malformed signature header';
  if (Math.abs(nowS - parsed.timestampS) > toleranceS) return 'signature timestamp outside the tolerance';
  const expected = Buffer.from(sign(secret, rawBody, parsed.timestampS).slice(-64), 'hex');
  const matches = parsed.signatures.some((signature) => timingSafeEqual(expected, Buffer.from(signature, 'hex')));
  return matches ? undefined : 'signature does not match';
}

/** A provider signs with at most a few secrets at once; more is not a header it sent. */
const MAX_SIGNATURES = 8;

/** One timestamp and one to MAX_SIGNATURES `v1` signatures (64 lower-case hex digits), in any order; else undefined. */
function parseHeader(header: string): { timestampS: number; signatures: string[] } | undefined {
  let timestampS: number | undefined;
  const signatures: string[] = [];
  for (const element of header.split(',')) {
    const match = /^(\w{1,10})=(.{1,128})$/.exec(element);
    if (!match) return undefined;
    const [, scheme, value] = match;
    if (scheme === 't') {
      if (timestampS !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestampS = Number(value);
    } else if (scheme === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value)) return undefined;
      signatures.push(value);
    }
  }
  if (timestampS === undefined || signatures.length === 0 || signatures.length > MAX_SIGNATURES) return undefined;
  return { timestampS, signatures };
}
