import { normalizeIp } from '@nestjs/throttler';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';

const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::\d{1,5})?$/;

/**
 * The client address a rate limit counts: the request's address (X-Forwarded-For's when TRUST_PROXY believes it)
 * without a port, IPv6 grouped by /64 as @nestjs/throttler does. Some proxies write the client's port into
 * X-Forwarded-For (`203.0.113.7:51234`, `[2001:db8::7]:443`; Azure Application Gateway does); kept, every new
 * connection of a client would be counted as another client.
 */
export function clientAddress(ip: string | undefined): string {
  // A client that reset its connection before the server had read its address (keepPeerAddress): all such clients,
  // gone before their answer, share one count.
  if (ip === undefined) return UNKNOWN_ADDRESS;
  const bare = IPV4_WITH_PORT.exec(ip)?.[1] ?? BRACKETED_IPV6.exec(ip)?.[1];
  const address = normalizeIp(bare !== undefined && isIP(bare.split('%')[0]) !== 0 ? bare : ip);
  return address.length <= LONGEST_ADDRESS ? address : `hashed:${createHash('sha256').update(address).digest('hex')}`;
}

/**
 * Longer than any address left by the steps above (IPv6 comes out as its /64): such a value is no address but, with
 * TRUST_PROXY=true, whatever a client that reaches a pod directly writes into X-Forwarded-For, up to the 16 KiB of the
 * headers. Its hash keeps each rate-limit key in Redis small; it is still counted as a client of its own.
 */
const LONGEST_ADDRESS = 64;
const UNKNOWN_ADDRESS = 'unknown';
