import type { IncomingHttpHeaders } from 'node:http';
import Negotiator from 'negotiator';

/** The codings answers may take, the first preferred where a client weighs them alike. */
export const COMPRESSION_CODINGS = ['br', 'gzip'] as const;

/** negotiator 1.x takes the server's preference as an option that @types/negotiator 0.6 does not declare. */
interface EncodingNegotiator {
  encoding(available: readonly string[], options: { preferred: readonly string[] }): string | undefined;
}

/**
 * The one coding of COMPRESSION_CODINGS that the request's Accept-Encoding weighs most (RFC 9110 §12.5.3), or
 * `identity` when it takes neither, for @fastify/compress to read instead of the client's value: it reads `*` as the
 * word gzip, so `gzip;q=0, *` ("anything but gzip") got gzip, which such a client cannot decode.
 */
export function acceptedCoding(headers: IncomingHttpHeaders): string {
  // RFC 9110 §8.4.1.3 asks that x-gzip be read as gzip; negotiator does not.
  const acceptEncoding = headers['accept-encoding']?.replace(/\bx-gzip\b/gi, 'gzip');
  const negotiator = new Negotiator({
    headers: { 'accept-encoding': acceptEncoding },
  }) as unknown as EncodingNegotiator;
  return negotiator.encoding(COMPRESSION_CODINGS, { preferred: COMPRESSION_CODINGS }) ?? 'identity';
}
