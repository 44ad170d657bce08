import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawReply {
  status: number;
  /** As they came over the wire (lower-case names): nothing added, dropped or normalised by a fetch implementation. */
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request over node:http, for tests about headers a fetch() client might hide or rewrite (Content-Length), or
 * whose body comes `bodyDelayMs` after its headers (fetch sends a streamed body's headers with its first chunk).
 */
export function rawRequest(
  url: string,
  method = 'GET',
  headers: Record<string, string> = {},
  body?: string,
  bodyDelayMs = 0,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    if (body === undefined) return request.end();
    request.flushHeaders();
    setTimeout(() => request.end(body), bodyDelayMs);
  });
}
