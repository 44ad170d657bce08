import type { Account } from '../factories/accounts.js';

export interface JsonReply {
  status: number;
  contentType: string;
  headers: Headers;
  body: Record<string, unknown>;
}

/** One request with an optional JSON body and token, its answer parsed (bodies of 204 and the like are undefined). */
export async function callJson(
  url: string,
  method: string,
  path: string,
  account?: Account,
  body?: unknown,
): Promise<JsonReply> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...account?.auth },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    headers: response.headers,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown>,
  };
}

/** One fetch of `url` + `path`, its status, JSON body and how long it took (for the bounds an outage must keep). */
export async function timedJson(url: string, path: string, init?: RequestInit) {
  const started = performance.now();
  const response = await fetch(`${url}${path}`, init);
  const body = (await response.json()) as Record<string, unknown>;
  return { status: response.status, body, ms: performance.now() - started };
}
